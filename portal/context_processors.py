"""Template context every page needs: which menu section the current page belongs to."""


def navigation(request) -> dict:
    match = getattr(request, "resolver_match", None)
    # Error pages (404) have no resolver match.
    if match is None:
        return {"nav_section": "", "nav_page": ""}
    return {"nav_section": match.namespace or match.url_name or "", "nav_page": match.url_name}
