"""RingCentral's paging of a list answer: `page` (from 1) and `perPage` in; `uri`,
`records`, `paging` and `navigation` out (its EnumeratedPagingModel and
PageNavigationModel). For lists ringbridge holds whole in memory (an extension's numbers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000  # RingCentral reads a larger perPage as its maximum

# The URI of a page of the list: (page, perPage) → absolute URI.
PageUri = Callable[[int, int], str]


def paged(records: Sequence[dict[str, Any]], page: int, per_page: int,
          uri: PageUri) -> dict[str, Any]:
    """One page of `records`; a page past the end has no records."""
    per_page = min(per_page, MAX_PER_PAGE)
    total = len(records)
    total_pages = -(-total // per_page)
    start = (page - 1) * per_page
    shown = list(records[start:start + per_page])
    paging = {"page": page, "perPage": per_page, "totalPages": total_pages,
              "totalElements": total}
    if shown:
        paging.update(pageStart=start, pageEnd=start + len(shown) - 1)
    return {"uri": uri(page, per_page), "records": shown, "paging": paging,
            "navigation": _navigation(page, per_page, total_pages, uri)}


def _navigation(page: int, per_page: int, total_pages: int,
                uri: PageUri) -> dict[str, dict[str, str]]:
    pages = {"firstPage": 1, "lastPage": max(total_pages, 1)}
    if page > 1:
        pages["previousPage"] = page - 1
    if page < total_pages:
        pages["nextPage"] = page + 1
    return {name: {"uri": uri(number, per_page)} for name, number in pages.items()}
