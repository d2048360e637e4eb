"""Alembic migrations of ringbridge's schema."""
