"""Create the staff groups Schedulers, Role admins and Auditors with their permissions."""

from django.db import migrations

from portal.access import apply_group_permissions

# Frozen here: a later change of who may do what is a new migration, not an edit of this one.
GROUP_PERMISSIONS = {
    "Schedulers": [
        "rooms.view_room",
        "rooms.view_participant",
        "identities.view_identity",
        "portal.view_auditevent",
        "rooms.add_room",
        "rooms.change_room",
        "rooms.delete_room",
        "rooms.add_participant",
        "rooms.delete_participant",
        "identities.add_identity",
    ],
    "Role admins": [
        "rooms.view_room",
        "rooms.view_participant",
        "identities.view_identity",
        "portal.view_auditevent",
        "rooms.add_room",
        "rooms.change_room",
        "rooms.delete_room",
        "rooms.add_participant",
        "rooms.delete_participant",
        "identities.add_identity",
        "rooms.change_participant",
        "identities.change_identity",
        "identities.delete_identity",
        "identities.issue_token",
        "identities.revoke_tokens",
    ],
    "Auditors": [
        "rooms.view_room",
        "rooms.view_participant",
        "identities.view_identity",
        "portal.view_auditevent",
    ],
}


def create_groups(apps, schema_editor):
    apply_group_permissions(apps, GROUP_PERMISSIONS)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUP_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("rooms", "0001_initial"),
        ("identities", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
