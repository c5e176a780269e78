"""Whether sign-in with Entra ID is on, for pages whose view is not the portal's (the admin's)."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def entra_sign_in() -> bool:
    return settings.ENTRA_SIGN_IN
