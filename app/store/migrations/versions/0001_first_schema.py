"""The first schema: images, boxes, models, runs, presets and the edit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "project_setting",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_project_setting")),
    )
    op.create_table(
        "image_root",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", _NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_root")),
        sa.UniqueConstraint("path", name=op.f("uq_image_root_path")),
    )
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("created_at", _NOW, nullable=False),
        sa.Column("updated_at", _NOW, nullable=False),
        sa.CheckConstraint("status IN ('new', 'in_progress', 'done', 'skipped')", name=op.f("ck_image_status")),
        sa.ForeignKeyConstraint(["root_id"], ["image_root.id"], name=op.f("fk_image_root_id_image_root"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image")),
        sa.UniqueConstraint("root_id", "rel_path", name=op.f("uq_image_root_id_rel_path")),
    )
    op.create_index(op.f("ix_image_content_hash"), "image", ["content_hash"])
    op.create_table(
        "training_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _NOW, nullable=True),
        sa.Column("finished_at", _NOW, nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'finished', 'failed', 'cancelled')",
                           name=op.f("ck_training_run_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_run")),
    )
    op.create_table(
        "model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(64), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("training_run_id", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", _NOW, nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["model_version.id"],
                                name=op.f("fk_model_version_parent_id_model_version"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["training_run_id"], ["training_run.id"],
                                name=op.f("fk_model_version_training_run_id_training_run"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_version")),
        sa.UniqueConstraint("name", name=op.f("uq_model_version_name")),
    )
    op.create_table(
        "detection_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("enhanced", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(128), nullable=True),
        sa.Column("created_at", _NOW, nullable=False),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_version.id"],
                                name=op.f("fk_detection_run_model_version_id_model_version"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detection_run")),
    )
    op.create_table(
        "box",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("detection_run_id", sa.Integer(), nullable=True),
        *[sa.Column(name, sa.Integer(), nullable=False)
          for name in ("blur", "expression", "illumination", "invalid", "occlusion", "pose")],
        sa.Column("ignore", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(128), nullable=True),
        sa.Column("created_at", _NOW, nullable=False),
        sa.Column("updated_at", _NOW, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("source IN ('human', 'model', 'imported', 'pseudo')", name=op.f("ck_box_source")),
        sa.CheckConstraint("state IN ('proposed', 'accepted', 'rejected', 'deleted')", name=op.f("ck_box_state")),
        sa.ForeignKeyConstraint(["detection_run_id"], ["detection_run.id"],
                                name=op.f("fk_box_detection_run_id_detection_run"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["image.id"], name=op.f("fk_box_image_id_image"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_version.id"],
                                name=op.f("fk_box_model_version_id_model_version"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_box")),
    )
    op.create_index(op.f("ix_box_image_id_state"), "box", ["image_id", "state"])
    op.create_table(
        "enhancement_preset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", _NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enhancement_preset")),
        sa.UniqueConstraint("name", name=op.f("uq_enhancement_preset_name")),
    )
    op.create_table(
        "edit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _NOW, nullable=False),
        sa.Column("author", sa.String(128), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reverts_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["reverts_id"], ["edit.id"], name=op.f("fk_edit_reverts_id_edit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edit")),
    )
    op.create_index(op.f("ix_edit_entity_entity_id"), "edit", ["entity", "entity_id"])
    op.create_index(op.f("ix_edit_author_id"), "edit", ["author", "id"])


def downgrade() -> None:
    for table in ("edit", "enhancement_preset", "box", "detection_run", "model_version", "training_run",
                  "image", "image_root", "project_setting"):
        op.drop_table(table)
