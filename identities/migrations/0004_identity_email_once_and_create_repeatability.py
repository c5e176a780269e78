"""One live identity per e-mail, in the database; create_user's repeatability kept per identity.

The constraint is refused, with the duplicates listed, while two live identities share an
e-mail: they may be two people, and merging them would put one in the other's rooms.
"""

import django.db.models.functions.text
from django.conf import settings
from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower

DUPLICATES = (
    "Cannot make e-mails unique among live identities: {count} e-mail(s) belong to more than "
    "one live identity:\n{lines}\nThe portal does not merge people on its own. For each e-mail, "
    "keep one identity: add it to the rooms of the others, then delete the others (or give "
    "them their own e-mails); then run `manage.py migrate` again."
)


class DuplicateIdentities(CommandError):
    """Shown by `manage.py migrate` as its message, without a traceback."""


def refuse_live_duplicates(apps, schema_editor):
    Identity = apps.get_model("identities", "Identity")
    live = Identity.objects.filter(deleted_at__isnull=True).exclude(email="")
    live = live.annotate(key=Lower("email"))
    shared = list(live.values("key").annotate(n=Count("pk")).filter(n__gt=1).order_by("key")[:50])
    if not shared:
        return
    lines = []
    for row in shared:
        ids = live.filter(key=row["key"]).order_by("pk").values_list("pk", flat=True)
        lines.append(f"  {row['key']}: identities {', '.join(str(pk) for pk in ids)}")
    raise DuplicateIdentities(DUPLICATES.format(count=len(shared), lines="\n".join(lines)))


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0003_tombstone_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(refuse_live_duplicates, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="identity",
            name="create_first_sent",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="identity",
            name="create_request_id",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="identity",
            name="create_unanswered",
            field=models.BooleanField(default=False),
        ),
        migrations.AddConstraint(
            model_name="identity",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                condition=models.Q(
                    ("deleted_at__isnull", True), models.Q(("email", ""), _negated=True)
                ),
                name="identity_live_email_once",
                violation_error_message="An identity with this e-mail exists already.",
            ),
        ),
    ]
