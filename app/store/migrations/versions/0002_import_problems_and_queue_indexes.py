"""Import problems (files an import could not take) and indexes for the review queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_problem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["root_id"], ["image_root.id"], name=op.f("fk_import_problem_root_id_image_root"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_problem")),
    )
    op.create_index(op.f("ix_image_status"), "image", ["status"])
    op.create_index(op.f("ix_box_detection_run_id"), "box", ["detection_run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_box_detection_run_id"), table_name="box")
    op.drop_index(op.f("ix_image_status"), table_name="image")
    op.drop_table("import_problem")
