"""The annotation store (SQLAlchemy models, migrations, queries): comes with its own issue."""
