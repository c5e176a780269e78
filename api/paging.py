"""A list's page as the API answers it: the rows, and where the page stands in the list."""

from django.core.paginator import Page
from ninja import Schema


class PageMeta(Schema):
    page: int
    per_page: int
    # Counted up to 1,000 rows (or the asked page's end): count_exact False means "more".
    count: int
    count_exact: bool
    next_page: int | None
    previous_page: int | None


def page_body(page: Page, items: list) -> dict:
    """The body of a list's page: `items`, then the page's place (PageMeta's fields)."""
    paginator = page.paginator
    return {
        "items": items,
        "page": page.number,
        "per_page": paginator.per_page,
        "count": paginator.count,
        # A capped count (portal.paging.CappedPaginator) says whether it is exact.
        "count_exact": getattr(paginator, "exact", True),
        "next_page": page.next_page_number() if page.has_next() else None,
        "previous_page": page.previous_page_number() if page.has_previous() else None,
    }
