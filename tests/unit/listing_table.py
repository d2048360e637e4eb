"""A small table of extensions (in-memory SQLite) and its list fields, for the tests of
list query options."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from bridge.api.listing import ListField


class Base(DeclarativeBase):
    pass


class Ext(Base):
    __tablename__ = "ext"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    dept: Mapped[str | None]
    prio: Mapped[int]
    enabled: Mapped[bool]
    pin: Mapped[str] = mapped_column(default="0000")  # in the table, not in the whitelist


@dataclass(frozen=True)
class Row:
    id: int
    name: str
    dept: str | None
    prio: int
    enabled: bool


ROWS = [
    Row(1, "alice", "sales", 1, True),
    Row(2, "bob", "sales", 2, False),
    Row(3, "carol", "support", 3, True),
    Row(4, "dave", None, 1, True),
    Row(5, "eve", "support", 2, False),
    Row(6, "frank", "dev", 3, True),
    Row(7, "grace", "dev", 1, False),
    Row(8, "heidi", None, 2, True),
    Row(9, "ivan", "sales", 3, True),
    Row(10, "judy", "dev", -5, False),
    Row(11, "O'Brien", "ops", 0, True),
    Row(12, "50% off", "promo", 4, True),
    Row(13, "500 club", "promo", 5, False),
    Row(14, "a_b", "ops", 6, True),
    Row(15, "axb", "ops", 7, True),
    Row(16, "Alice", "Sales", 8, True),
    Row(17, "path/to\\x", "ops", 9, False),
    Row(18, "it's", None, 10, True),
    Row(19, "mallory", "sales", 2, False),
    Row(20, "trent", "support", 2, True),
]

FIELDS = {
    "id": ListField(Ext.id, "int"),
    "name": ListField(Ext.name, "string", searchable=True),
    "dept": ListField(Ext.dept, "string", searchable=True),
    "prio": ListField(Ext.prio, "int"),
    "enabled": ListField(Ext.enabled, "bool", sortable=False),
}


def make_engine() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    # LIKE is case-sensitive on most databases; make SQLite's so too, so that the tests
    # show that functions and search are case-insensitive by themselves
    event.listen(engine, "connect",
                 lambda connection, _: connection.execute("PRAGMA case_sensitive_like = ON"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(Ext(id=r.id, name=r.name, dept=r.dept, prio=r.prio, enabled=r.enabled)
                        for r in ROWS)
        session.commit()
    return engine
