"""Chunked label imports: the import journal (``label_import``), what a running import replaced
(``label_import_undo``), and which import added a box (``box.label_import_id``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("author", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("boxes", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('running', 'done', 'rolled_back')", name=op.f("ck_label_import_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_import")),
    )
    op.create_table(
        "label_import_undo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["label_import.id"],
                                name=op.f("fk_label_import_undo_import_id_label_import"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"],
                                name=op.f("fk_label_import_undo_image_id_image"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_import_undo")),
    )
    op.create_index(op.f("ix_label_import_undo_import_id"), "label_import_undo", ["import_id"])
    op.add_column("box", sa.Column("label_import_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_box_label_import_id"), "box", ["label_import_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_box_label_import_id"), table_name="box")
    with op.batch_alter_table("box") as batch:
        batch.drop_column("label_import_id")
    op.drop_index(op.f("ix_label_import_undo_import_id"), table_name="label_import_undo")
    op.drop_table("label_import_undo")
    op.drop_table("label_import")
