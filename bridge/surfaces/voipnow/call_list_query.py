"""The VoIPNow list options of the phone calls API: count, startIndex, filterBy,
filterOp, filterValue, sortOrder. Pure: checked here, applied to live call snapshots."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.gateway import LiveCall
from bridge.services.errors import ServiceError
from bridge.store.ids import decimal_id
from bridge.store.models import aware

DEFAULT_COUNT, MAX_COUNT = 20, 5000
MAX_START_INDEX = 10**9
FILTER_FIELDS = ("id", "published")
FILTER_OPS = ("equals", "greaterThan", "lessThan", "present", "startsWith", "contains")
SORT_ORDERS = ("ascending", "descending")


class ListOptionError(ServiceError):
    """A list option is wrong; `code` is the VoIPNow code that names it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CallListQuery:
    count: int = DEFAULT_COUNT
    start_index: int = 0
    filter_by: str | None = None
    filter_op: str = "equals"
    filter_value: str | None = None
    descending: bool = False

    @property
    def filtered(self) -> bool:
        return self.filter_by is not None

    def apply(self, calls: Sequence[LiveCall]) -> tuple[int, list[LiveCall]]:
        """(total after filtering, the page)."""
        kept = [c for c in calls if self._matches(c)] if self.filtered else list(calls)
        kept.sort(key=lambda c: c.published, reverse=self.descending)
        return len(kept), kept[self.start_index:self.start_index + self.count]

    def _matches(self, call: LiveCall) -> bool:
        if self.filter_by == "id":
            return _compare(call.call_id, self.filter_op, self.filter_value or "", str)
        return _compare(call.published, self.filter_op, self.filter_value or "", _moment)


def parse_call_list_query(args: Mapping[str, str]) -> CallListQuery:
    count = _integer(args.get("count"), DEFAULT_COUNT, 1, MAX_COUNT, "count_invalid", "count")
    start = _integer(args.get("startIndex"), 0, 0, MAX_START_INDEX, "startindex_invalid",
                     "startIndex")
    order = args.get("sortOrder", "ascending")
    if order not in SORT_ORDERS:
        raise ListOptionError("sortorder_invalid", "sortOrder must be ascending or descending")
    filter_by = args.get("filterBy")
    if filter_by is None:
        return CallListQuery(count, start, descending=order == "descending")
    if filter_by not in FILTER_FIELDS:
        raise ListOptionError("filterby_invalid", f"filterBy must be one of {FILTER_FIELDS}")
    op = args.get("filterOp", "equals")
    if op not in FILTER_OPS:
        raise ListOptionError("filterop_invalid", f"filterOp must be one of {FILTER_OPS}")
    value = args.get("filterValue")
    _check_value(filter_by, op, value)
    return CallListQuery(count, start, filter_by, op, value, order == "descending")


def _integer(text: str | None, default: int, low: int, high: int, code: str,
             name: str) -> int:
    if text is None:
        return default
    value = decimal_id(text)
    if value is None or not low <= value <= high:
        raise ListOptionError(code, f"{name} must be a whole number {low}..{high}")
    return value


def _check_value(field: str, op: str, value: str | None) -> None:
    if op == "present":
        return
    if value is None or value == "":
        raise ListOptionError("filtervalue_invalid", f"filterValue is required for {op}")
    if field == "published":
        if op in ("startsWith", "contains"):
            raise ListOptionError("filterop_invalid", f"{op} does not apply to published")
        try:
            _moment(value)
        except ValueError as exc:
            raise ListOptionError("filtervalue_invalid",
                                  "filterValue for published must be an ISO 8601 time") from exc
    elif op in ("greaterThan", "lessThan"):
        raise ListOptionError("filterop_invalid", f"{op} does not apply to id")


def _moment(text: str) -> datetime:
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _compare(actual: str | datetime, op: str, text: str,
             parse: Callable[[str], str | datetime]) -> bool:
    if op == "present":
        return True
    if op == "startsWith":
        return str(actual).startswith(text)
    if op == "contains":
        return text in str(actual)
    wanted = parse(text)
    if op == "equals":
        return actual == wanted
    if op == "greaterThan":
        return actual > wanted  # type: ignore[operator]  # same type: parse matches field
    return actual < wanted  # type: ignore[operator]
