"""Query options of list endpoints (filter, search, orderby, skip, top) as SQLAlchemy expressions.

List endpoints answer ``{"count": <total before paging>, "items": [...]}`` in the PortSIP REST
style. This module turns the client's query options into SQLAlchemy expressions over a whitelist
of fields (never string-built SQL); every bad input raises :class:`ListQueryError`, whose text is
the message for the client.

Filter grammar (keywords, operators and function names are case-insensitive; field names exact)::

    filter     := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" or_expr ")" | function | comparison
    function   := ("startswith" | "endswith" | "contains") "(" FIELD "," STRING ")"
    comparison := FIELD ("eq" | "ne" | "gt" | "ge" | "lt" | "le") literal
    literal    := STRING | NUMBER | "true" | "false" | "null"

STRING is single-quoted with ``''`` for a quote; NUMBER is ``-?[0-9]+(.[0-9]+)?``. Comparisons
and functions on a nullable column are made two-valued (a NULL column is "ne" every value and
fails every other test), so ``not`` always means the complement. The functions, like search,
are case-insensitive and treat LIKE wildcards literally.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    String,
    and_,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

MAX_FILTER_LENGTH = 2000
MAX_SEARCH_LENGTH = 200
MAX_DEPTH = 32
MAX_TOP = 100
MAX_INT = 2**63 - 1  # the largest offset a database takes


class ListQueryError(ValueError):
    """A bad list query option; ``str(exc)`` is the message for the API client."""


@dataclass(frozen=True)
class ListField:
    """One whitelisted field: the column it maps to, and how clients may use it."""

    column: SQLColumnExpression[Any]  # e.g. RingGroup.name
    kind: Literal["string", "int", "bool"]
    searchable: bool = False
    sortable: bool = True


@dataclass(frozen=True)
class ListQuery:
    where: ColumnElement[bool] | None
    order_by: tuple[ColumnElement[Any], ...]
    skip: int
    top: int


def parse_list_query(options: Mapping[str, Any], fields: Mapping[str, ListField], *,
                     tie_breaker: SQLColumnExpression[Any]) -> ListQuery:
    """The list query that `options` ask for over `fields`: the query arguments as the
    schema `ListArgsIn` loaded them (plain names; skip and top checked integers)."""
    conditions: list[ColumnElement[bool]] = []
    if "filter" in options:
        conditions.append(_FilterParser(options["filter"], fields).parse())
    search = options.get("search", "").strip()
    if search:
        conditions.append(_search(search, fields))
    where = None if not conditions else conditions[0] if len(conditions) == 1 else and_(*conditions)
    return ListQuery(
        where=where,
        order_by=_order_by(options.get("orderby"), fields, tie_breaker),
        skip=options["skip"],
        top=options["top"],
    )


def page(session: Session, base: Select[Any], query: ListQuery) -> tuple[int, list[Any]]:
    """The count of rows matching `base` and the query (before paging), and the requested page."""
    filtered = base if query.where is None else base.where(query.where)
    filtered = filtered.order_by(None)
    count = session.scalar(select(func.count()).select_from(filtered.subquery()))
    rows = session.scalars(filtered.order_by(*query.order_by).offset(query.skip).limit(query.top))
    return int(count or 0), list(rows.all())


# --- search and orderby ----------------------------------------------------------------------


def _search(text: str, fields: Mapping[str, ListField]) -> ColumnElement[bool]:
    columns = [field.column for field in fields.values() if field.searchable]
    if not columns:
        raise ListQueryError("search is not supported by this list")
    if len(text) > MAX_SEARCH_LENGTH:
        raise ListQueryError(f"search is longer than {MAX_SEARCH_LENGTH} characters")
    return or_(*(column.icontains(text, autoescape=True) for column in columns))


def _order_by(text: str | None, fields: Mapping[str, ListField],
              tie_breaker: SQLColumnExpression[Any]) -> tuple[ColumnElement[Any], ...]:
    order: list[ColumnElement[Any]] = []
    seen: set[str] = set()
    columns: list[SQLColumnExpression[Any]] = []
    if text is not None and not text.strip():
        raise ListQueryError("orderby is empty; expected 'field [asc|desc], ...'")
    for item in [] if text is None else text.split(","):
        words = item.split()
        if not words:
            raise ListQueryError("orderby has an empty item; expected 'field [asc|desc], ...'")
        name, direction = words[0], words[1].lower() if len(words) > 1 else "asc"
        field = fields.get(name)
        if field is None or not field.sortable:
            raise ListQueryError(f"orderby: cannot sort by '{name[:40]}'; sortable fields: "
                                 + ", ".join(sorted(n for n, f in fields.items() if f.sortable)))
        if len(words) > 2 or direction not in ("asc", "desc"):
            raise ListQueryError(f"orderby: expected 'asc' or 'desc' after '{name}', "
                                 f"not '{' '.join(words[1:])[:40]}'")
        if name in seen:
            raise ListQueryError(f"orderby: field '{name}' is given more than once")
        seen.add(name)
        columns.append(field.column)
        order.append(_sort_key(field, descending=direction == "desc"))
    if not any(column is tie_breaker for column in columns):
        order.append(tie_breaker.asc())
    return tuple(order)


def _sort_key(field: ListField, *, descending: bool) -> ColumnElement[Any]:
    """The same order on SQLite and PostgreSQL: NULLs first ascending and last descending
    (SQLite's default; PostgreSQL's is the reverse), text by code point."""
    column = _CodePointOrder(field.column) if field.kind == "string" else field.column
    return column.desc().nulls_last() if descending else column.asc().nulls_first()


class _CodePointOrder(FunctionElement[str]):
    """Text compared by code point: SQLite's default (BINARY), PostgreSQL's COLLATE "C"
    (its default follows the database's locale, e.g. "a" before "B" in en_US)."""

    inherit_cache = True
    type = String()


@compiles(_CodePointOrder)
def _code_point_order(element: _CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_CodePointOrder, "postgresql")
def _code_point_order_postgresql(element: _CodePointOrder, compiler: SQLCompiler,
                                 **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


# --- filter: tokenizer -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: Literal["(", ")", ",", "word", "string", "number", "end"]
    text: str  # as written
    pos: int
    value: str | int | float | None = None  # a string's or a number's value

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the filter"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return {"string": f"string {text}", "number": f"number {text}"}.get(self.kind, f"'{text}'")


_PUNCTUATION: dict[str, Literal["(", ")", ","]] = {"(": "(", ")": ")", ",": ","}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]")


def _filter_error(message: str, pos: int) -> NoReturn:
    raise ListQueryError(f"filter: {message} (at position {pos})")


def _tokenize(text: str) -> Iterator[_Token]:
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in " \t\r\n":
            pos += 1
        elif char in _PUNCTUATION:
            yield _Token(_PUNCTUATION[char], char, pos)
            pos += 1
        elif char == "'":
            end, value = _string_end(text, pos)
            yield _Token("string", text[pos:end], pos, value)
            pos = end
        elif word := _WORD.match(text, pos):
            yield _Token("word", word.group(), pos)
            pos = word.end()
        elif number := _NUMBER.match(text, pos):
            if _NUMBER_TAIL.match(text, number.end()):
                bad = re.match(r"[-A-Za-z0-9_.]+", text[pos:])
                _filter_error(f"invalid number '{bad.group() if bad else number.group()}'", pos)
            yield _Token("number", number.group(), pos, _number(number.group(), pos))
            pos = number.end()
        else:
            hint = "; strings use single quotes" if char == '"' else ""
            _filter_error(f"unexpected character {char!r}{hint}", pos)
    yield _Token("end", "", len(text))


def _string_end(text: str, start: int) -> tuple[int, str]:
    """Where the string literal at `start` ends, and its value."""
    pos, parts = start + 1, []
    while (quote := text.find("'", pos)) >= 0:
        parts.append(text[pos:quote])
        if not text.startswith("''", quote):
            return quote + 1, "".join(parts)
        parts.append("'")
        pos = quote + 2
    _filter_error("unterminated string (a quote inside a string is written '')", start)


def _number(text: str, pos: int) -> int | float:
    if "." in text:
        value = float(text)
        if math.isfinite(value):
            return value
    elif abs(int(text)) <= MAX_INT:
        return int(text)
    _filter_error(f"number {text[:40]} is out of range", pos)


# --- filter: parser --------------------------------------------------------------------------

_Compare = Callable[[SQLColumnExpression[Any], Any], ColumnElement[bool]]
_OPERATORS: dict[str, _Compare] = {
    "eq": lambda column, value: column == value,
    "ne": lambda column, value: column != value,
    "gt": lambda column, value: column > value,
    "ge": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "le": lambda column, value: column <= value,
}
_FUNCTIONS: dict[str, _Compare] = {
    "startswith": lambda column, value: column.istartswith(value, autoescape=True),
    "endswith": lambda column, value: column.iendswith(value, autoescape=True),
    "contains": lambda column, value: column.icontains(value, autoescape=True),
}
_KEYWORDS = {"and", "or", "not", "true", "false", "null", *_OPERATORS}
_LITERAL_KIND = {"string": "string", "int": "number", "bool": "bool"}
_A_KIND = {"string": "a string", "int": "an int", "bool": "a bool"}
_KIND_HINT = {"string": "a quoted string such as 'abc'", "int": "a number",
              "bool": "true or false"}


class _FilterParser:
    """Recursive descent over the tokens of a filter: one method per grammar rule."""

    def __init__(self, text: str, fields: Mapping[str, ListField]) -> None:
        if not text.strip():
            raise ListQueryError("filter is empty")
        if len(text) > MAX_FILTER_LENGTH:
            raise ListQueryError(f"filter is longer than {MAX_FILTER_LENGTH} characters")
        self.tokens = list(_tokenize(text))
        self.index = 0
        self.depth = 0
        self.fields = fields

    def parse(self) -> ColumnElement[bool]:
        expression = self.or_expr()
        token = self.peek()
        if token.kind == ")":
            _filter_error("unexpected ')' without a matching '('", token.pos)
        if token.kind != "end":
            _filter_error(f"expected 'and', 'or' or the end of the filter, found "
                          f"{token.describe()}", token.pos)
        return expression

    def or_expr(self) -> ColumnElement[bool]:
        terms = [self.and_expr()]
        while self.peek().is_word("or"):
            self.advance()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else or_(*terms)

    def and_expr(self) -> ColumnElement[bool]:
        terms = [self.not_expr()]
        while self.peek().is_word("and"):
            self.advance()
            terms.append(self.not_expr())
        return terms[0] if len(terms) == 1 else and_(*terms)

    def not_expr(self) -> ColumnElement[bool]:
        if not self.peek().is_word("not"):
            return self.primary()
        self.enter(self.advance())
        expression = not_(self.not_expr())
        self.depth -= 1
        return expression

    def primary(self) -> ColumnElement[bool]:
        token = self.advance()
        if token.kind == "(":
            self.enter(token)
            expression = self.or_expr()
            self.depth -= 1
            self.expect(")", f"to close the '(' at position {token.pos}")
            return expression
        if token.kind == "word" and self.peek().kind == "(":
            return self.function(token)
        if token.kind == "word" and token.text.lower() not in _KEYWORDS:
            return self.comparison(token)
        _filter_error(f"expected a comparison, a function, 'not' or '(', found "
                      f"{token.describe()}", token.pos)

    def function(self, name: _Token) -> ColumnElement[bool]:
        function = _FUNCTIONS.get(name.text.lower())
        if function is None:
            _filter_error(f"unknown function '{name.text}'; supported: "
                          + ", ".join(sorted(_FUNCTIONS)), name.pos)
        self.advance()  # the "("
        field_token = self.advance()
        field = self.field(field_token)
        if field.kind != "string":
            _filter_error(f"{name.text.lower()} needs a string field, but '{field_token.text}' "
                          f"is {_A_KIND[field.kind]} field", field_token.pos)
        self.expect(",", f"after the field in {name.text.lower()}(...)")
        argument = self.advance()
        if argument.kind != "string":
            _filter_error(f"the second argument of {name.text.lower()} must be a quoted string, "
                          f"found {argument.describe()}", argument.pos)
        self.expect(")", f"to close {name.text.lower()}(...)")
        return _null_safe(field.column, function(field.column, argument.value), negative=False)

    def comparison(self, field_token: _Token) -> ColumnElement[bool]:
        field = self.field(field_token)
        operator = self.advance()
        op = operator.text.lower()
        if operator.kind != "word" or op not in _OPERATORS:
            _filter_error(f"expected an operator (eq, ne, gt, ge, lt, le) after "
                          f"'{field_token.text}', found {operator.describe()}", operator.pos)
        kind, value = self.literal(self.peek())
        token = self.advance()
        column = field.column
        if kind == "null":
            if op not in ("eq", "ne"):
                _filter_error(f"null can only be compared with eq or ne, not {op}", operator.pos)
            return column.is_(None) if op == "eq" else column.is_not(None)
        if field.kind == "bool" and op not in ("eq", "ne"):
            _filter_error(f"'{field_token.text}' is a bool field: use eq or ne with it, not {op}",
                          operator.pos)
        if kind != _LITERAL_KIND[field.kind]:
            _filter_error(f"'{field_token.text}' is {_A_KIND[field.kind]} field: compare it with "
                          f"{_KIND_HINT[field.kind]}, not {token.describe()}", token.pos)
        bound = literal(value, Float()) if isinstance(value, float) else value
        return _null_safe(column, _OPERATORS[op](column, bound), negative=op == "ne")

    def literal(self, token: _Token) -> tuple[str, Any]:
        if token.kind in ("string", "number"):
            return token.kind, token.value
        if token.is_word("true", "false"):
            return "bool", token.text.lower() == "true"
        if token.is_word("null"):
            return "null", None
        _filter_error(f"expected a value (a quoted string, a number, true, false or null), "
                      f"found {token.describe()}", token.pos)

    def field(self, token: _Token) -> ListField:
        field = self.fields.get(token.text) if token.kind == "word" else None
        if field is not None:
            return field
        if token.kind != "word":
            _filter_error(f"expected a field name, found {token.describe()}", token.pos)
        near = [name for name in self.fields if name.lower() == token.text.lower()]
        hint = f"; did you mean '{near[0]}'?" if near else "; fields: " + ", ".join(self.fields)
        _filter_error(f"unknown field '{token.text[:40]}'{hint}", token.pos)

    # --- helpers

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)  # stay on "end"
        return token

    def expect(self, kind: str, purpose: str) -> None:
        token = self.advance()
        if token.kind != kind:
            _filter_error(f"expected '{kind}' {purpose}, found {token.describe()}", token.pos)

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            _filter_error(f"nested more than {MAX_DEPTH} levels deep", token.pos)


def _null_safe(column: SQLColumnExpression[Any], test: ColumnElement[bool], *,
               negative: bool) -> ColumnElement[bool]:
    """`test` made true or false (never NULL) when `column` is NULL: true only for "ne"."""
    target = getattr(column, "expression", column)
    if isinstance(target, Column) and not target.nullable:
        return test
    return or_(column.is_(None), test) if negative else and_(column.is_not(None), test)
