"""Alembic migrations of the project database; run through ``app.store.schema``, no alembic.ini."""
