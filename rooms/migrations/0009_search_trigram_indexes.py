from django.db import migrations

from portal.migration_ops import trigram_extension, trigram_index


class Migration(migrations.Migration):
    """The rooms search matches titles and ACS ids anywhere in them: on PostgreSQL, trigram
    indexes of live rooms serve UPPER(...) LIKE '%term%' instead of a scan of every room."""

    dependencies = [("rooms", "0008_live_order_indexes")]

    operations = [
        trigram_extension(),
        trigram_index("room_title_trgm", "rooms_room", "title", where="deleted_at IS NULL"),
        trigram_index("room_acs_id_trgm", "rooms_room", "acs_id", where="deleted_at IS NULL"),
    ]
