"""Who may do what: the three staff groups and the permissions each holds."""

SCHEDULERS = "Schedulers"
ROLE_ADMINS = "Role admins"
AUDITORS = "Auditors"

_READ = [
    "rooms.view_room",
    "rooms.view_participant",
    "identities.view_identity",
    "portal.view_auditevent",
]
_SCHEDULE = [
    "rooms.add_room",
    "rooms.change_room",
    "rooms.delete_room",
    "rooms.add_participant",
    "rooms.delete_participant",
    # Adding a new person to a room creates their ACS identity on the fly.
    "identities.add_identity",
]
_ADMINISTER_ROLES = [
    "rooms.change_participant",
    "identities.change_identity",
    "identities.delete_identity",
    "identities.issue_token",
    "identities.revoke_tokens",
]

# The one definition of who may do what: the code, the fixtures and the tests read it here.
# Migration 0002 keeps a frozen copy rather than importing this, because a migration must make
# the same groups whenever it runs, however this changes later: a change here comes with a new
# data migration calling apply_group_permissions(). tests/portal/test_access.py asserts that
# the migrated database holds exactly this, so a change without its migration fails there.
GROUP_PERMISSIONS: dict[str, list[str]] = {
    SCHEDULERS: _READ + _SCHEDULE,
    ROLE_ADMINS: _READ + _SCHEDULE + _ADMINISTER_ROLES,
    AUDITORS: _READ,
}


def apply_group_permissions(apps, group_permissions: dict[str, list[str]]) -> None:
    """Make each group hold exactly the given permissions (used by data migrations)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations ran; a fresh database has none yet.
    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, which historical apps lack.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in group_permissions.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
