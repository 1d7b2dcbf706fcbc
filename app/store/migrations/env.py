"""Alembic environment: always driven from ``app.store.schema`` with a live connection."""

from __future__ import annotations

from alembic import context

from app.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.store.schema (upgrade/downgrade), not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
