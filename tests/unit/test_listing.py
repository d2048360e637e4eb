"""List query options: filter, search, orderby, skip, top, on an in-memory SQLite table."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from marshmallow import ValidationError
from sqlalchemy import Engine, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.api.listing import (
    ListField,
    ListQuery,
    ListQueryError,
    page,
    parse_list_query,
)
from bridge.api.schemas import ListArgsIn
from tests.unit.listing_table import FIELDS, ROWS, Ext, Row, make_engine

ALL = [row.id for row in ROWS]


def parse(args: Mapping[str, str], fields: Mapping[str, ListField] = FIELDS) -> ListQuery:
    """The query `args` ask for, read as the API reads them: loaded by ListArgsIn (plain
    names, skip and top checked), then parsed."""
    return parse_list_query(ListArgsIn().load(args), fields, tie_breaker=Ext.id)


def run(session: Session, args: Mapping[str, str], fields: Mapping[str, ListField] = FIELDS,
        ) -> tuple[int, list[int]]:
    """(count, ids of the page in order) for `args` over the whole table."""
    count, rows = page(session, select(Ext), parse(args, fields))
    return count, [row.id for row in rows]


def where(predicate: Callable[[Row], bool]) -> list[int]:
    return [row.id for row in ROWS if predicate(row)]


def error(args: Mapping[str, str]) -> str:
    """The message of the schema's error ("name: problem") or of the parser's."""
    with pytest.raises((ValidationError, ListQueryError)) as info:
        parse(args)
    if isinstance(info.value, ValidationError):
        assert isinstance(info.value.messages, dict)
        return "; ".join(f"{name}: {' '.join(problems)}"
                         for name, problems in info.value.messages.items())
    return str(info.value)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return make_engine()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def filtered(session: Session, text: str) -> list[int]:
    count, ids = run(session, {"filter": text})
    assert count == len(ids)
    return ids


# --- comparisons -----------------------------------------------------------------------------

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(("field", "text", "value"), [
    ("name", "'dave'", "dave"),
    ("name", "'O''Brien'", "O'Brien"),
    ("prio", "2", 2),
    ("prio", "-5", -5),
    ("prio", "1.5", 1.5),
    ("id", "10", 10),
])
def test_every_operator_on_string_and_int_fields(session: Session, op: str, field: str,
                                                 text: str, value: Any) -> None:
    expected = where(lambda row: OPS[op](getattr(row, field), value))
    assert filtered(session, f"{field} {op} {text}") == expected


@pytest.mark.parametrize("op", OPS)
def test_operators_on_a_nullable_string_treat_null_as_different_from_everything(
        session: Session, op: str) -> None:
    def test(row: Row) -> bool:
        return op == "ne" if row.dept is None else OPS[op](row.dept, "ops")

    expected = where(test)
    assert filtered(session, f"dept {op} 'ops'") == expected
    assert filtered(session, f"not dept {op} 'ops'") == [i for i in ALL if i not in expected]


def test_string_comparison_is_lexical_and_case_sensitive(session: Session) -> None:
    assert filtered(session, "name lt 'b'") == [1, 11, 12, 13, 14, 15, 16]  # 'O' < 'a' < 'b'
    assert filtered(session, "name eq 'alice'") == [1]
    assert filtered(session, "name eq 'Alice'") == [16]


def test_negative_and_decimal_numbers(session: Session) -> None:
    assert filtered(session, "prio eq -5") == [10]
    assert filtered(session, "prio lt 0") == [10]
    assert filtered(session, "prio gt 9.5") == [18]
    assert filtered(session, "prio eq 2.0") == [2, 5, 8, 19, 20]
    assert filtered(session, "prio eq 2.5") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("enabled eq true", where(lambda row: row.enabled)),
    ("enabled eq false", where(lambda row: not row.enabled)),
    ("enabled ne true", where(lambda row: not row.enabled)),
    ("enabled ne false", where(lambda row: row.enabled)),
    ("enabled eq TRUE", where(lambda row: row.enabled)),
])
def test_bool_fields(session: Session, text: str, expected: list[int]) -> None:
    assert filtered(session, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("dept eq null", [4, 8, 18]),
    ("dept ne null", [i for i in ALL if i not in (4, 8, 18)]),
    ("not (dept eq null)", [i for i in ALL if i not in (4, 8, 18)]),
    ("dept eq NULL and prio gt 1", [8, 18]),
    ("name eq null", []),
    ("prio ne null", ALL),
    ("enabled eq null", []),
])
def test_null(session: Session, text: str, expected: list[int]) -> None:
    assert filtered(session, text) == expected


# --- logic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # or binds loosest: a or (b and c)
    ("dept eq 'dev' or dept eq 'sales' and enabled eq true", [1, 6, 7, 9, 10]),
    ("(dept eq 'dev' or dept eq 'sales') and enabled eq true", [1, 6, 9]),
    ("dept eq 'sales' and enabled eq true or dept eq 'dev'", [1, 6, 7, 9, 10]),
    ("dept eq 'sales' and (enabled eq true or dept eq 'dev')", [1, 9]),
    # not binds tightest: (not a) and b
    ("not enabled eq true and prio eq 2", [2, 5, 19]),
    ("not (enabled eq true and prio eq 2)", [i for i in ALL if i not in (8, 20)]),
    ("not not enabled eq false", [2, 5, 7, 10, 13, 17, 19]),
    ("prio eq 1 or prio eq 3 or prio eq 5", [1, 3, 4, 6, 7, 9, 13]),
    ("prio ge 1 and prio le 3 and enabled eq false", [2, 5, 7, 19]),
    ("((((prio eq 10))))", [18]),
    ("(prio eq 10)or(prio eq 0)", [11, 18]),
])
def test_precedence_and_parentheses(session: Session, text: str, expected: list[int]) -> None:
    assert filtered(session, text) == expected


def test_keywords_are_case_insensitive(session: Session) -> None:
    assert filtered(session, "NOT enabled EQ True AND prio Eq 2 OR name eQ 'dave'") == [2, 4, 5, 19]
    assert filtered(session, "StartsWith(name,'AL')") == [1, 16]


# --- functions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("startswith(name,'a')", [1, 14, 15, 16]),
    ("endswith(name, 'E')", [1, 4, 5, 7, 16]),
    ("contains(name, 'an')", [6, 9]),
    ("contains(name, 'LIC')", [1, 16]),
    ("endswith(dept, 'LES')", [1, 2, 9, 16, 19]),
    ("contains(name,'')", ALL),
    ("contains(dept,'')", where(lambda row: row.dept is not None)),
    ("not contains(dept,'s')", [4, 6, 7, 8, 10, 12, 13, 18]),
    ("contains(name,'an') or startswith(dept,'pro')", [6, 9, 12, 13]),
    ("contains(name, 'an') and prio gt 2", [6, 9]),
])
def test_functions(session: Session, text: str, expected: list[int]) -> None:
    assert filtered(session, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("contains(name,'50%')", [12]),
    ("startswith(name,'50%')", [12]),
    ("contains(name,'%')", [12]),
    ("startswith(name,'%')", []),
    ("contains(name,'a_b')", [14]),
    ("endswith(name,'_b')", [14]),
    ("contains(name,'/')", [17]),
    ("contains(name,'h/t')", [17]),
    ("contains(name,'\\')", [17]),
    ("contains(name,'\\x')", [17]),
])
def test_like_wildcards_in_function_arguments_are_literal(session: Session, text: str,
                                                          expected: list[int]) -> None:
    assert filtered(session, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("name eq 'O''Brien'", [11]),
    ("name eq 'it''s'", [18]),
    ("contains(name,'''')", [11, 18]),
    ("name eq ''''", []),
    ("name eq ''", []),
    ("name eq 'O''Brien' or name eq 'it''s'", [11, 18]),
    ("name eq 'a''' or name eq 'bob'", [2]),
    ("name eq 'x or 1 eq 1'", []),
])
def test_quotes(session: Session, text: str, expected: list[int]) -> None:
    assert filtered(session, text) == expected


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("search", "expected"), [
    ("SALES", [1, 2, 9, 16, 19]),
    ("ali", [1, 16]),
    ("  ali ", [1, 16]),
    ("%", [12]),
    ("_", [14]),
    ("/", [17]),
    ("'", [11, 18]),
    ("%' OR '1'='1", []),
    ("", ALL),
    ("   ", ALL),
])
def test_search(session: Session, search: str, expected: list[int]) -> None:
    assert run(session, {"search": search}) == (len(expected), expected)


def test_search_and_filter_must_both_hold(session: Session) -> None:
    assert run(session, {"search": "sales", "filter": "enabled eq true"}) == (3, [1, 9, 16])
    assert run(session, {"$search": "sales", "$filter": "prio gt 2"}) == (2, [9, 16])


def test_search_without_searchable_fields_is_an_error() -> None:
    fields = {"name": ListField(Ext.name, "string")}
    with pytest.raises(ListQueryError) as info:
        parse({"search": "x"}, fields)
    assert str(info.value) == "search is not supported by this list"
    assert parse({"search": ""}, fields).where is None


def test_overlong_search_is_an_error() -> None:
    assert parse({"search": "x" * 200}).where is not None
    assert error({"search": "x" * 201}) == "search is longer than 200 characters"


# --- orderby ---------------------------------------------------------------------------------


def by(*keys: Callable[[Row], Any]) -> list[int]:
    return [row.id for row in sorted(ROWS, key=lambda row: (*[k(row) for k in keys], row.id))]


def test_default_order_is_the_tie_breaker(session: Session) -> None:
    assert run(session, {})[1] == ALL
    query = parse({})
    assert query == ListQuery(where=None, order_by=query.order_by, skip=0, top=100)
    assert len(query.order_by) == 1


@pytest.mark.parametrize(("orderby", "expected"), [
    ("prio", by(lambda r: r.prio)),
    ("prio asc", by(lambda r: r.prio)),
    ("prio desc", by(lambda r: -r.prio)),
    ("prio DESC", by(lambda r: -r.prio)),
    ("name desc", [r.id for r in sorted(ROWS, key=lambda r: r.name, reverse=True)]),
    ("dept, prio desc", by(lambda r: (r.dept is not None, r.dept or ""), lambda r: -r.prio)),
    ("  dept  desc ,prio", by(lambda r: (r.dept is None, [-ord(c) for c in r.dept or ""]),
                              lambda r: r.prio)),
    ("id desc", ALL[::-1]),
    ("prio desc, id desc", [r.id for r in sorted(ROWS, key=lambda r: (r.prio, r.id),
                                                 reverse=True)]),
])
def test_orderby(session: Session, orderby: str, expected: list[int]) -> None:
    assert run(session, {"orderby": orderby})[1] == expected


def test_the_order_is_explicit_about_nulls_and_collation_on_postgresql() -> None:
    """PostgreSQL sorts NULLs last ascending and text by the database's locale; the order
    asked for is SQLite's: NULLs first ascending, last descending, text by code point."""
    query = parse({"orderby": "dept desc, prio, name"})
    sql = str(select(Ext.id).order_by(*query.order_by).compile(dialect=postgresql.dialect()))
    assert sql.endswith('ORDER BY ext.dept COLLATE "C" DESC NULLS LAST, ext.prio ASC NULLS '
                        'FIRST, ext.name COLLATE "C" ASC NULLS FIRST, ext.id ASC')
    sql = str(select(Ext.id).order_by(*query.order_by).compile(dialect=sqlite.dialect()))
    assert sql.endswith("ORDER BY ext.dept DESC NULLS LAST, ext.prio ASC NULLS FIRST, "
                        "ext.name ASC NULLS FIRST, ext.id ASC")


def test_ties_are_broken_by_the_tie_breaker_ascending(session: Session) -> None:
    ids = run(session, {"orderby": "prio desc"})[1]
    # ... prio 2 (five ties), prio 1 (three ties), prio 0, prio -5
    assert ids[-10:] == [2, 5, 8, 19, 20, 1, 4, 7, 11, 10]


def test_the_tie_breaker_is_not_repeated_when_already_ordered_by() -> None:
    assert len(parse({"orderby": "id desc"}).order_by) == 1
    assert len(parse({"orderby": "prio"}).order_by) == 2


@pytest.mark.parametrize("orderby", ["prio", "prio desc", "dept desc, prio", "enabled"])
@pytest.mark.parametrize("top", [1, 2, 3, 7])
def test_paging_across_ties_has_no_duplicates_or_gaps(session: Session, orderby: str,
                                                      top: int) -> None:
    fields = {**FIELDS, "enabled": ListField(Ext.enabled, "bool")}
    whole = run(session, {"orderby": orderby}, fields)[1]
    pages = [run(session, {"orderby": orderby, "skip": str(skip), "top": str(top)}, fields)
             for skip in range(0, len(ALL), top)]
    assert all(count == len(ALL) for count, _ in pages)
    assert [i for _, ids in pages for i in ids] == whole
    assert sorted(whole) == ALL


@pytest.mark.parametrize(("orderby", "message"), [
    ("", "orderby is empty; expected 'field [asc|desc], ...'"),
    ("  ", "orderby is empty; expected 'field [asc|desc], ...'"),
    ("name,", "orderby has an empty item; expected 'field [asc|desc], ...'"),
    (",name", "orderby has an empty item; expected 'field [asc|desc], ...'"),
    ("Name", "orderby: cannot sort by 'Name'; sortable fields: dept, id, name, prio"),
    ("pin", "orderby: cannot sort by 'pin'; sortable fields: dept, id, name, prio"),
    ("enabled", "orderby: cannot sort by 'enabled'; sortable fields: dept, id, name, prio"),
    ("name up", "orderby: expected 'asc' or 'desc' after 'name', not 'up'"),
    ("name asc desc", "orderby: expected 'asc' or 'desc' after 'name', not 'asc desc'"),
    ("name, prio, name desc", "orderby: field 'name' is given more than once"),
    ("name; DROP TABLE ext",
     "orderby: cannot sort by 'name;'; sortable fields: dept, id, name, prio"),
    ("name desc, (select 1)",
     "orderby: cannot sort by '(select'; sortable fields: dept, id, name, prio"),
    ("name desc; DROP TABLE ext",
     "orderby: expected 'asc' or 'desc' after 'name', not 'desc; DROP TABLE ext'"),
])
def test_orderby_errors(orderby: str, message: str) -> None:
    assert error({"orderby": orderby}) == message


# --- skip and top ----------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    ({"skip": "5", "top": "3"}, [6, 7, 8]),
    ({"skip": "0", "top": "1"}, [1]),
    ({"top": "1"}, [1]),
    ({"skip": "19"}, [20]),
    ({"skip": "20"}, []),
    ({"skip": "1000"}, []),
    ({"skip": "9223372036854775807"}, []),
    ({"top": "100"}, ALL),
    ({"skip": "007", "top": "002"}, [8, 9]),
    ({"skip": "18", "top": "5"}, [19, 20]),
])
def test_skip_and_top(session: Session, args: dict[str, str], expected: list[int]) -> None:
    assert run(session, args) == (20, expected)


def test_top_defaults_to_100_and_skip_to_0() -> None:
    query = parse({})
    assert (query.skip, query.top) == (0, 100)
    query = parse({"skip": "3", "top": "7"})
    assert (query.skip, query.top) == (3, 7)


def test_page_count_is_over_the_restricted_base_and_ignores_its_order(session: Session) -> None:
    query = parse({"filter": "prio le 2", "top": "2", "orderby": "prio desc"})
    base = select(Ext).where(Ext.enabled.is_(True)).order_by(Ext.name)
    count, rows = page(session, base, query)
    assert count == len(where(lambda r: r.enabled and r.prio <= 2)) == 5
    assert [row.id for row in rows] == [8, 20]


@pytest.mark.parametrize(("args", "message"), [
    ({"top": "0"}, "top: must be between 1 and 100, not 0"),
    ({"top": "101"}, "top: must be between 1 and 100, not 101"),
    ({"top": "-1"}, "top: must be between 1 and 100, not -1"),
    ({"top": "x"}, "top: must be a whole number, not 'x'"),
    ({"top": "1.5"}, "top: must be a whole number, not '1.5'"),
    ({"top": "1e3"}, "top: must be a whole number, not '1e3'"),
    ({"top": ""}, "top: must be a whole number, not ''"),
    ({"top": " 5"}, "top: must be a whole number, not ' 5'"),
    ({"top": "5\n"}, "top: must be a whole number, not '5\n'"),
    ({"top": "+5"}, "top: must be a whole number, not '+5'"),
    ({"top": "1_0"}, "top: must be a whole number, not '1_0'"),
    ({"top": "\u0665"}, "top: must be a whole number, not '\u0665'"),  # an Arabic-Indic five
    ({"$top": "\u00b2"}, "top: must be a whole number, not '\u00b2'"),  # a superscript two
    ({"skip": "-1"}, "skip: must be at least 0, not -1"),
    ({"skip": "abc"}, "skip: must be a whole number, not 'abc'"),
    ({"skip": "1.0"}, "skip: must be a whole number, not '1.0'"),
    ({"skip": ""}, "skip: must be a whole number, not ''"),
    ({"skip": "9223372036854775808"}, "skip: must be at least 0, not 9223372036854775808"),
    ({"skip": "9" * 5000}, f"skip: must be at least 0, not 1{'0' * 19}"),
    ({"skip": "-" + "9" * 5000}, f"skip: must be at least 0, not -1{'0' * 19}"),
])
def test_skip_and_top_errors(args: dict[str, str], message: str) -> None:
    assert error(args) == message


# --- $ forms ---------------------------------------------------------------------------------


def test_dollar_forms(session: Session) -> None:
    args = {"$filter": "prio eq 2", "$orderby": "name desc", "$skip": "1", "$top": "2",
            "$search": "r"}
    assert run(session, args) == (3, [19, 5])


def test_both_forms_with_the_same_value_are_accepted(session: Session) -> None:
    args = {"filter": "prio eq 2", "$filter": "prio eq 2", "top": "1", "$top": "1"}
    assert run(session, args) == (5, [2])


@pytest.mark.parametrize("name", ["filter", "search", "orderby", "skip", "top"])
def test_both_forms_with_different_values_are_an_error(name: str) -> None:
    assert error({name: "1", f"${name}": "2"}) == (
        f"${name}: '{name}' was given too, with a different value; give only one")


def test_unknown_dollar_options_are_errors_and_other_arguments_are_ignored() -> None:
    assert error({"$fitler": "x"}) == (
        "$fitler: unknown query option; supported: $filter, $search, $orderby, $skip, $top")
    assert parse({"tenant": "7", "Filter": "??"}).where \
        is None


def test_flask_style_multidict_takes_the_first_value(session: Session) -> None:
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    args = werkzeug.MultiDict([("top", "2"), ("top", "50"), ("filter", "prio eq 2")])
    assert run(session, args) == (5, [2, 5])


@pytest.mark.parametrize(("args", "message"), [
    ({"filter": "name eq 'a\x00'"}, "filter: must not contain NUL or unpaired surrogate "
                                    "characters"),
    ({"search": "\ud800"}, "search: must not contain NUL or unpaired surrogate characters"),
    ({"orderby": "name\udcff"}, "orderby: must not contain NUL or unpaired surrogate "
                                "characters"),
])
def test_text_that_no_database_can_take_is_an_error(args: dict[str, str], message: str) -> None:
    assert error(args) == message


# --- filter errors ---------------------------------------------------------------------------

FIELD_LIST = "id, name, dept, prio, enabled"


@pytest.mark.parametrize(("text", "message"), [
    ("", "filter is empty"),
    ("   ", "filter is empty"),
    ("nmae eq 'x'", f"filter: unknown field 'nmae'; fields: {FIELD_LIST} (at position 0)"),
    ("pin eq '1234'", f"filter: unknown field 'pin'; fields: {FIELD_LIST} (at position 0)"),
    ("Name eq 'x'", "filter: unknown field 'Name'; did you mean 'name'? (at position 0)"),
    ("name eq 5", "filter: 'name' is a string field: compare it with a quoted string such as"
                  " 'abc', not number 5 (at position 8)"),
    ("prio eq '5'", "filter: 'prio' is an int field: compare it with a number, not string '5'"
                    " (at position 8)"),
    ("prio eq true", "filter: 'prio' is an int field: compare it with a number, not 'true'"
                     " (at position 8)"),
    ("enabled eq 1", "filter: 'enabled' is a bool field: compare it with true or false, not"
                     " number 1 (at position 11)"),
    ("enabled gt false", "filter: 'enabled' is a bool field: use eq or ne with it, not gt"
                         " (at position 8)"),
    ("dept lt null", "filter: null can only be compared with eq or ne, not lt (at position 5)"),
    ("null eq dept", "filter: expected a comparison, a function, 'not' or '(', found 'null'"
                     " (at position 0)"),
    ("name like 'x'", "filter: expected an operator (eq, ne, gt, ge, lt, le) after 'name',"
                      " found 'like' (at position 5)"),
    ("name", "filter: expected an operator (eq, ne, gt, ge, lt, le) after 'name', found the"
             " end of the filter (at position 4)"),
    ("name eq", "filter: expected a value (a quoted string, a number, true, false or null),"
                " found the end of the filter (at position 7)"),
    ("name eq dept", "filter: expected a value (a quoted string, a number, true, false or"
                     " null), found 'dept' (at position 8)"),
    ("name eq 'x' prio eq 1", "filter: expected 'and', 'or' or the end of the filter, found"
                              " 'prio' (at position 12)"),
    ("name eq 'x' and", "filter: expected a comparison, a function, 'not' or '(', found the"
                        " end of the filter (at position 15)"),
    ("or name eq 'x'", "filter: expected a comparison, a function, 'not' or '(', found 'or'"
                       " (at position 0)"),
    ("not", "filter: expected a comparison, a function, 'not' or '(', found the end of the"
            " filter (at position 3)"),
    ("()", "filter: expected a comparison, a function, 'not' or '(', found ')'"
           " (at position 1)"),
    ("(name eq 'x'", "filter: expected ')' to close the '(' at position 0, found the end of"
                     " the filter (at position 12)"),
    ("((name eq 'x')", "filter: expected ')' to close the '(' at position 0, found the end of"
                       " the filter (at position 14)"),
    ("name eq 'x')", "filter: unexpected ')' without a matching '(' (at position 11)"),
    ("name eq 'x", "filter: unterminated string (a quote inside a string is written '')"
                   " (at position 8)"),
    ("name eq 'it''s", "filter: unterminated string (a quote inside a string is written '')"
                       " (at position 8)"),
    ("name eq \"x\"", "filter: unexpected character '\"'; strings use single quotes"
                      " (at position 8)"),
    ("prio eq 1e3", "filter: invalid number '1e3' (at position 8)"),
    ("prio eq 1.", "filter: invalid number '1.' (at position 8)"),
    ("prio eq .5", "filter: unexpected character '.' (at position 8)"),
    ("prio eq --1", "filter: unexpected character '-' (at position 8)"),
    ("prio eq 1x", "filter: invalid number '1x' (at position 8)"),
    ("prio eq 9223372036854775808", "filter: number 9223372036854775808 is out of range"
                                    " (at position 8)"),
    ("prio eq " + "9" * 400 + ".5", f"filter: number {'9' * 40} is out of range (at position 8)"),
    ("prio = 1", "filter: unexpected character '=' (at position 5)"),
    ("prio eq 1 && prio eq 2", "filter: unexpected character '&' (at position 10)"),
    ("soundex(name,'x')", "filter: unknown function 'soundex'; supported: contains, endswith,"
                          " startswith (at position 0)"),
    ("contains(prio,'1')", "filter: contains needs a string field, but 'prio' is an int field"
                           " (at position 9)"),
    ("contains(nope,'1')", f"filter: unknown field 'nope'; fields: {FIELD_LIST}"
                           " (at position 9)"),
    ("contains('x',name)", "filter: expected a field name, found string 'x' (at position 9)"),
    ("contains(name 'x')", "filter: expected ',' after the field in contains(...), found"
                           " string 'x' (at position 14)"),
    ("contains(name,5)", "filter: the second argument of contains must be a quoted string,"
                         " found number 5 (at position 14)"),
    ("contains(name,'x'", "filter: expected ')' to close contains(...), found the end of the"
                          " filter (at position 17)"),
    ("contains(name,'x',)", "filter: expected ')' to close contains(...), found ','"
                            " (at position 17)"),
    ("contains(name,'x') eq true", "filter: expected 'and', 'or' or the end of the filter,"
                                   " found 'eq' (at position 19)"),
    ("name eq 'x' or 1=1 --", "filter: unexpected character '=' (at position 16)"),
    ("name eq 'x'; DROP TABLE ext", "filter: unexpected character ';' (at position 11)"),
    ("1 eq 1", "filter: expected a comparison, a function, 'not' or '(', found number 1"
               " (at position 0)"),
    ("name eq 'x' or name eq 'x' union select pin from ext",
     "filter: expected 'and', 'or' or the end of the filter, found 'union' (at position 27)"),
])
def test_filter_errors(text: str, message: str) -> None:
    assert error({"filter": text}) == message


def test_long_strings_are_shortened_in_messages() -> None:
    message = error({"filter": f"name eq 'x' '{'y' * 100}'"})
    assert message == f"filter: expected 'and', 'or' or the end of the filter, found string " \
                      f"'{'y' * 36}... (at position 12)"


def test_filter_length_limit(session: Session) -> None:
    longest = "name eq '" + "x" * 1990 + "'"
    assert len(longest) == 2000
    assert filtered(session, longest) == []
    assert error({"filter": longest + " "}) == "filter is longer than 2000 characters"


@pytest.mark.parametrize(("opening", "closing"), [("(", ")"), ("not ", ""), ("not (", ")")])
def test_nesting_depth_limit(session: Session, opening: str, closing: str) -> None:
    def nested(depth: int) -> str:
        return opening * depth + "prio eq 10" + closing * depth

    levels = 32 if opening != "not (" else 16  # each "not (" is two levels
    assert filtered(session, nested(levels)) == [18]  # an even number of nots
    message = error({"filter": nested(levels + 1)})
    assert message.startswith("filter: nested more than 32 levels deep (at position ")


# --- injection -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    {"filter": "name eq 'x' or 1=1 --"},
    {"filter": "name eq 'x'; DROP TABLE ext"},
    {"filter": "1 eq 1"},
    {"filter": 'name eq "x"'},
    {"filter": "name eq 'x'' or ''1''=''1'"},
    {"filter": "contains(name,'%'' or 1=1 --')"},
    {"search": "%' OR '1'='1"},
    {"search": "'; DROP TABLE ext; --"},
    {"orderby": "name; DROP TABLE ext"},
    {"orderby": "name desc, (select 1)"},
    {"orderby": "(CASE WHEN 1=1 THEN name ELSE id END)"},
    {"skip": "0; DROP TABLE ext"},
    {"top": "1 OR 1=1"},
])
def test_injection_attempts_fail_cleanly_or_match_literally(session: Session,
                                                            args: dict[str, str]) -> None:
    try:
        result = run(session, args)
    except (ValidationError, ListQueryError):
        pass
    else:
        assert result == (0, [])  # the text was taken literally: no row has it
    assert inspect(session.get_bind()).has_table("ext")
    assert run(session, {}) == (20, ALL)
