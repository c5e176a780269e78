"""Management commands of the rooms app, and the helper they share to find who acts."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def find_actor(username: str | None):
    """The user named by --actor, else the first superuser: services check what they may do."""
    User = get_user_model()
    if username:
        try:
            return User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"There is no user named {username!r}.") from None
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise CommandError("There is no superuser to act as: name a user with --actor USERNAME.")
    return user
