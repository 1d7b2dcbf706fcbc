"""The images a detection run covered, as a table (``detection_run_image``) instead of a JSON
list in ``detection_run.settings["image_ids"]`` that every added image rewrote and three modules
parsed; sharded detection adds rows from several processes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_runs = sa.table("detection_run", sa.column("id", sa.Integer), sa.column("settings", sa.JSON))
_images = sa.table("image", sa.column("id", sa.Integer))
_covered = sa.table("detection_run_image", sa.column("run_id", sa.Integer), sa.column("image_id", sa.Integer))


def _settings(value) -> dict:
    if isinstance(value, str):  # some drivers hand JSON back as text
        value = json.loads(value)
    return dict(value or {})


def upgrade() -> None:
    op.create_table(
        "detection_run_image",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["detection_run.id"],
                                name=op.f("fk_detection_run_image_run_id_detection_run"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"],
                                name=op.f("fk_detection_run_image_image_id_image"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "image_id", name=op.f("pk_detection_run_image")),
    )
    op.create_index(op.f("ix_detection_run_image_image_id"), "detection_run_image", ["image_id"])
    conn = op.get_bind()
    existing = set(conn.execute(sa.select(_images.c.id)).scalars())
    for run_id, value in conn.execute(sa.select(_runs.c.id, _runs.c.settings)).all():
        settings = _settings(value)
        ids = sorted({int(i) for i in settings.pop("image_ids", [])} & existing)
        if ids:
            conn.execute(_covered.insert(), [{"run_id": run_id, "image_id": i} for i in ids])
        conn.execute(_runs.update().where(_runs.c.id == run_id).values(settings=settings))


def downgrade() -> None:
    conn = op.get_bind()
    covered: dict[int, list[int]] = {}
    for run_id, image_id in conn.execute(sa.select(_covered.c.run_id, _covered.c.image_id)).all():
        covered.setdefault(run_id, []).append(image_id)
    for run_id, value in conn.execute(sa.select(_runs.c.id, _runs.c.settings)).all():
        settings = _settings(value)
        settings["image_ids"] = sorted(covered.get(run_id, []))
        conn.execute(_runs.update().where(_runs.c.id == run_id).values(settings=settings))
    op.drop_index(op.f("ix_detection_run_image_image_id"), table_name="detection_run_image")
    op.drop_table("detection_run_image")
