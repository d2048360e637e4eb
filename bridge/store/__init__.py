"""Persistence: SQLAlchemy engine and sessions (SQLite by default, PostgreSQL by URL)."""
