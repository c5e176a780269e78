from django.db import migrations

from portal.migration_ops import trigram_extension, trigram_index


class Migration(migrations.Migration):
    """The rooms search looks for a term in names and e-mail addresses: on PostgreSQL, trigram
    indexes serve UPPER(...) LIKE '%term%' instead of a scan of every identity."""

    dependencies = [("identities", "0006_live_order_indexes")]

    operations = [
        trigram_extension(),
        trigram_index("identity_name_trgm", "identities_identity", "display_name"),
        trigram_index("identity_email_trgm", "identities_identity", "email"),
    ]
