"""Paging a list whose matches may be many: count only as far as the asked page needs."""

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Counts stop here ("more than 1,000 rooms"): an exact COUNT(*) reads every matching row on
# every visit, where the page shows 25.
COUNT_CAP = 1000
# The furthest page a link can ask for: counting past it would be counting the whole table.
LAST_PAGE_ASKED = 100_000


def page_number(number) -> int:
    """The page asked for as a number from 1 to LAST_PAGE_ASKED; 1 when it is not a number."""
    try:
        asked = int(number)
    except (TypeError, ValueError):
        return 1
    return min(max(asked, 1), LAST_PAGE_ASKED)


class CappedPaginator(Paginator):
    """A Paginator that counts only as far as the asked page needs: up to `reach` rows, plus
    one to know there are more.

    Past `reach` the count is not exact (`exact` is False): there is a next page, there is no
    known last one, and the list says "more than 1,000".
    """

    def __init__(self, object_list: QuerySet, per_page: int, *, reach: int) -> None:
        super().__init__(object_list, per_page)
        self.rows = object_list
        self.reach = reach

    @cached_property
    def count(self) -> int:
        # Unordered and LIMITed: the database stops after reach + 1 rows, where an exact
        # COUNT(*) read every matching one.
        return self.rows.order_by().values("pk")[: self.reach + 1].count()

    @property
    def exact(self) -> bool:
        return self.count <= self.reach

    @property
    def reach_label(self) -> str:
        """How far it counted, as a list says it ("more than 1,000 rooms")."""
        return f"{self.reach:,}"

    def get_page(self, number) -> Page:
        """As Paginator's, but past a count that stopped there is no last page to fall back to:
        a nonsense or negative number shows the first page."""
        if not self.exact:
            number = page_number(number)
        return super().get_page(number)


def capped_page(rows: QuerySet, per_page: int, number, *, cap: int | None = None) -> Page:
    """The asked page of rows, counted up to `cap` (COUNT_CAP) or to the asked page's end if
    further.

    Enough to know whether the asked page and the next exist; a bad number shows the first
    page, one past the end of an exact count the last (as Paginator.get_page).
    """
    reach = max(COUNT_CAP if cap is None else cap, page_number(number) * per_page)
    return CappedPaginator(rows, per_page, reach=reach).get_page(number)
