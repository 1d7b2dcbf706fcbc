"""Evaluations: AP@0.5, PR curve and errors of a model version on a labelled set, with the
fingerprint of the ground truth scored (``dataset_fingerprint``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(300), nullable=False),
        sa.Column("enhanced", sa.Boolean(), nullable=False),
        sa.Column("enhance_settings", sa.JSON(), nullable=True),
        sa.Column("ap", sa.Float(), nullable=True),
        sa.Column("n_images", sa.Integer(), nullable=False),
        sa.Column("n_faces", sa.Integer(), nullable=False),
        sa.Column("curve", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dataset_fingerprint", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_version.id"],
                                name=op.f("fk_evaluation_model_version_id_model_version"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation")),
    )
    op.create_index(op.f("ix_evaluation_model_version_id_dataset"), "evaluation", ["model_version_id", "dataset"])


def downgrade() -> None:
    op.drop_index(op.f("ix_evaluation_model_version_id_dataset"), table_name="evaluation")
    op.drop_table("evaluation")
