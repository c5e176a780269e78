# Sign-in throttling moved to django-axes (portal/login.py): its AccessAttempt replaces LoginFailure.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_audit_actor_label_index"),
    ]

    operations = [
        migrations.DeleteModel(
            name="LoginFailure",
        ),
    ]
