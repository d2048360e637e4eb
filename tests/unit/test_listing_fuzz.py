"""Property tests of the list query options: no input escapes as anything but the schema's
ValidationError or ListQueryError,
and filters, search, ordering and paging built from the grammar select exactly what a plain
Python model of the same rows selects."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from bridge.api.listing import ListField, ListQueryError, page, parse_list_query
from bridge.api.schemas import ListArgsIn
from tests.unit.listing_table import FIELDS, ROWS, Ext, Row, make_engine

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# every field sortable here, so that orderby can use them all
SORTABLE = {**FIELDS, "enabled": ListField(Ext.enabled, "bool")}
OPTION_KEYS = ["filter", "$filter", "search", "$search", "orderby", "$orderby", "skip", "$skip",
               "top", "$top", "$count", "tenant"]


@functools.cache
def engine() -> Engine:
    return make_engine()


def execute(args: dict[str, str]) -> tuple[int, list[int]] | None:
    """The (count, ids) of `args`, or None when they are rejected: by the schema
    ListArgsIn (a ValidationError) or the parser (a ListQueryError), with a message."""
    try:
        query = parse_list_query(ListArgsIn().load(args), SORTABLE, tie_breaker=Ext.id)
    except ValidationError as exc:
        assert exc.messages
        return None
    except ListQueryError as exc:
        assert str(exc)
        return None
    with Session(engine()) as session:
        count, rows = page(session, select(Ext), query)
        assert inspect(session.get_bind()).has_table("ext")
    assert len(rows) <= query.top
    return count, [row.id for row in rows]


# --- anything in, ListQuery or ListQueryError out --------------------------------------------


@SETTINGS
@given(st.dictionaries(st.sampled_from(OPTION_KEYS), st.text(max_size=60), max_size=5))
def test_arbitrary_text_in_any_option(args: dict[str, str]) -> None:
    execute(args)


@SETTINGS
@given(st.text(max_size=3000))
def test_arbitrary_long_text_as_filter_and_orderby(text: str) -> None:
    execute({"filter": text})
    execute({"orderby": text})


TOKENS = [
    "name", "dept", "prio", "enabled", "id", "pin", "Name", "eq", "ne", "gt", "ge", "lt", "le",
    "EQ", "like", "=", "and", "or", "not", "AND", "Or", "NOT", "(", ")", ",", "startswith",
    "endswith", "contains", "Contains", "substringof", "'x'", "'a''b'", "''", "'%'", "'_'",
    "'", "''''", "'unterminated", "0", "1", "-5", "1.5", "-0.0", "1e3", "9" * 25, "true",
    "false", "null", "TRUE", "Null", '"x"', ";", "--", "/*", "*", "%", "_", "\\", "$", "asc",
    "desc", "DESC", "select", "drop", "\x00", "\ud800", "\u00e9", " ", "\t",
]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.sampled_from([" ", ""]))
def test_token_soup(tokens: list[str], separator: str) -> None:
    text = separator.join(tokens)
    execute({"filter": text})
    execute({"$orderby": text.replace("(", ",")})
    execute({"search": text})


@SETTINGS
@given(st.sampled_from(["skip", "top", "$skip", "$top"]),
       st.one_of(st.integers(-10**30, 10**30).map(str), st.text(max_size=30),
                 st.sampled_from(["", "1.5", "1e3", "0x10", " 1", "1 ", "+1", "\u0661", "100",
                                  "101"])))
def test_skip_and_top(key: str, value: str) -> None:
    result = execute({key: value})
    is_int = re.fullmatch(r"-?[0-9]+", value) is not None
    top_ok = is_int and 1 <= int(value) <= 100
    skip_ok = is_int and 0 <= int(value) < 2**63
    assert (result is not None) == (top_ok if "top" in key else skip_ok)


# --- filters from the grammar, checked against a Python model --------------------------------

# (filter text, precedence, nesting depth, predicate)
Node = tuple[str, int, int, Callable[[Row], bool]]

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}
ASCII = st.text(alphabet="aAbBeEsSlo%_/\\' ", max_size=4)


def quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cased(word: str, upper: bool) -> str:
    return word.upper() if upper else word


@st.composite
def comparisons(draw: st.DrawFn) -> Node:
    field = draw(st.sampled_from(["name", "dept", "prio", "id", "enabled"]))
    op = draw(st.sampled_from(sorted(OPS)))
    upper = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:  # null
        op = draw(st.sampled_from(["eq", "ne"]))
        text = f"{field} {cased(op, upper)} {cased('null', upper)}"
        return text, 4, 0, lambda row: (getattr(row, field) is None) == (op == "eq")
    value: Any
    if field in ("name", "dept"):
        value = draw(st.one_of(ASCII, st.sampled_from([r.name for r in ROWS] + ["sales"])))
        written = quoted(value)
    elif field in ("prio", "id"):
        value = draw(st.integers(-6, 21)) + draw(st.sampled_from([0, 0.5]))
        written = str(value)  # 3, -5, 2.5, -0.5
    else:
        op = draw(st.sampled_from(["eq", "ne"]))
        value = draw(st.booleans())
        written = cased(str(value).lower(), upper)

    def test(row: Row) -> bool:
        actual = getattr(row, field)
        return op == "ne" if actual is None else OPS[op](actual, value)

    return f"{field} {cased(op, upper)} {written}", 4, 0, test


@st.composite
def functions(draw: st.DrawFn) -> Node:
    name = draw(st.sampled_from(["startswith", "endswith", "contains"]))
    field = draw(st.sampled_from(["name", "dept"]))
    value = draw(ASCII)
    method = {"startswith": str.startswith, "endswith": str.endswith,
              "contains": str.__contains__}[name]

    def test(row: Row) -> bool:
        actual = getattr(row, field)
        return actual is not None and method(actual.lower(), value.lower())

    text = f"{cased(name, draw(st.booleans()))}({field}, {quoted(value)})"
    return text, 4, 0, test


def wrap(node: Node, need: int) -> tuple[str, int]:
    """The text of `node` where an operand of precedence `need` is expected, and its depth."""
    text, precedence, depth, _ = node
    return (text, depth) if precedence >= need else (f"({text})", depth + 1)


def combine(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def logical(word: str, precedence: int, join: Callable[[list[bool]], bool],
                ) -> st.SearchStrategy[Node]:
        def build(nodes: list[Node], upper: bool) -> Node:
            parts = [wrap(node, precedence) for node in nodes]
            tests = [node[3] for node in nodes]
            return (f" {cased(word, upper)} ".join(text for text, _ in parts), precedence,
                    max(depth for _, depth in parts),
                    lambda row: join([test(row) for test in tests]))
        return st.builds(build, st.lists(children, min_size=2, max_size=3), st.booleans())

    def negate(node: Node, upper: bool) -> Node:
        text, depth = wrap(node, 3)
        return f"{cased('not', upper)} {text}", 3, depth + 1, lambda row: not node[3](row)

    def parenthesize(node: Node) -> Node:
        return f"({node[0]})", 4, node[2] + 1, node[3]

    return st.one_of(logical("or", 1, any), logical("and", 2, all),
                     st.builds(negate, children, st.booleans()), st.builds(parenthesize, children))


FILTERS = st.recursive(st.one_of(comparisons(), functions()), combine, max_leaves=10)


@SETTINGS
@given(FILTERS)
def test_filters_select_what_the_model_selects(node: Node) -> None:
    text, _, depth, test = node
    result = execute({"filter": text})
    if depth > 32 or len(text) > 2000:
        assert result is None
        return
    expected = [row.id for row in ROWS if test(row)]
    assert result == (len(expected), expected), text


def model_order(keys: list[tuple[str, bool]]) -> list[Row]:
    """ROWS in SQLite's order for `keys` (NULL lowest), ties broken by id."""
    rows = sorted(ROWS, key=lambda row: row.id)
    for field, descending in reversed(keys):  # stable sorts, least significant key first
        rows.sort(key=functools.partial(sort_key, field), reverse=descending)
    return rows


def sort_key(field: str, row: Row) -> tuple[bool, Any]:
    value = getattr(row, field)
    return (False, 0) if value is None else (True, value)


@SETTINGS
@given(FILTERS, st.text(alphabet="aelsS%_ ", max_size=3),
       st.lists(st.tuples(st.sampled_from(["name", "dept", "prio", "enabled", "id"]),
                          st.booleans()), max_size=4, unique_by=lambda key: key[0]),
       st.integers(0, 25), st.integers(1, 100))
def test_search_order_and_paging_match_the_model(node: Node, search: str,
                                                 keys: list[tuple[str, bool]],
                                                 skip: int, top: int) -> None:
    text, _, depth, test = node
    args = {"filter": text, "search": search, "skip": str(skip), "top": str(top)}
    if keys:
        args["orderby"] = ", ".join(f"{field} {'desc' if desc else 'asc'}"
                                    for field, desc in keys)
    result = execute(args)
    if depth > 32 or len(text) > 2000:
        assert result is None
        return
    needle = search.strip().lower()

    def found(row: Row) -> bool:
        return not needle or any(needle in value.lower()
                                 for value in (row.name, row.dept) if value is not None)

    matching = [row.id for row in model_order(keys) if test(row) and found(row)]
    assert result == (len(matching), matching[skip:skip + top])
