"""Alembic environment: the URL comes from ringbridge's settings (see bridge/store/migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bridge.store.db import make_engine
from bridge.store.models import Base


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as new_connection:
        run(new_connection)
    engine.dispose()
