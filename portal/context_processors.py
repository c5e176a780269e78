"""Template context every page needs: which menu section the current page belongs to, and the
emulator's inbox when the portal runs on a served emulator."""

from django.conf import settings


def navigation(request) -> dict:
    inbox = {"emulator_inbox_url": settings.ACS_EMULATOR_INBOX_URL}
    match = getattr(request, "resolver_match", None)
    # Error pages (404) have no resolver match.
    if match is None:
        return {"nav_section": "", "nav_page": "", **inbox}
    return {
        "nav_section": match.namespace or match.url_name or "",
        "nav_page": match.url_name,
        **inbox,
    }
