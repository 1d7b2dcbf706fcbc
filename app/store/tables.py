"""The annotation store's tables, as SQLAlchemy 2.0 typed ORM classes.

One database is one project (a SQLite file by default, any SQLAlchemy URL otherwise). Boxes use
the ``srn.formats`` convention: float **inclusive** pixel extents ``x1 y1 x2 y2``, 0-based. The
schema itself is owned by the Alembic migrations in ``app/store/migrations``; a test checks that
these classes and the migrated database agree.

String columns with a fixed vocabulary (status, source, state) are plain strings guarded by CHECK
constraints, so SQLite and PostgreSQL store them the same way and migrations stay simple.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

REVIEW_STATUSES = ("new", "in_progress", "done", "skipped")
BOX_SOURCES = ("human", "model", "imported", "pseudo")
BOX_STATES = ("proposed", "accepted", "rejected", "deleted")
RUN_STATUSES = ("queued", "running", "finished", "failed", "cancelled")
LABEL_IMPORT_STATES = ("running", "done", "rolled_back")
WIDER_ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
"""The six WIDER FACE attributes, in the column order of ``srn.formats.wider.ATTRIBUTES``."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator):
    """A time stored with its zone and always read back aware (UTC): SQLite keeps no zone and hands
    back naive values, PostgreSQL aware ones; callers compare and convert without checking which."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class ProjectSetting(Base):
    """Key/value settings that travel with the project (e.g. default enhancement, thresholds)."""

    __tablename__ = "project_setting"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class ImageRoot(Base):
    """A folder that image paths are relative to; a project may have several."""

    __tablename__ = "image_root"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Image(Base):
    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("root_id", "rel_path"),
        CheckConstraint(_in("status", REVIEW_STATUSES), name="status"),
        Index(None, "status"),
        Index(None, "content_hash"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("image_root.id", ondelete="CASCADE"))
    rel_path: Mapped[str] = mapped_column(Text)
    """POSIX path relative to the root (``0--Parade/0_Parade_1.jpg``)."""
    content_hash: Mapped[str] = mapped_column(String(64))
    """sha256 of the file's bytes: finds duplicates and files changed behind the project's back."""
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    split: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")
    assignee: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    root: Mapped[ImageRoot] = relationship()


class ImportProblem(Base):
    """A file an image import could not take, with the reason (unreadable, duplicate, ...)."""

    __tablename__ = "import_problem"
    id: Mapped[int] = mapped_column(primary_key=True)
    root_id: Mapped[int] = mapped_column(ForeignKey("image_root.id", ondelete="CASCADE"))
    rel_path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingRun(Base):
    __tablename__ = "training_run"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    log_path: Mapped[str | None] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ModelVersion(Base):
    """A detector checkpoint the project knows: where it is, its sha256, where it came from."""

    __tablename__ = "model_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    checkpoint_path: Mapped[str] = mapped_column(Text)
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    training_run_id: Mapped[int | None] = mapped_column(ForeignKey("training_run.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    """Set when removed while runs, evaluations or children still name it: hidden from pickers."""


class DetectionRun(Base):
    """One pass of a model over some images: which model, on the raw or the enhanced image, how."""

    __tablename__ = "detection_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    enhanced: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Enhancement method and parameters, thresholds, scales: whatever reproduces the run."""
    author: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DetectionRunImage(Base):
    """An image a detection run looked at, whether it found faces there or not (an image with
    no box is still covered: "nothing here" is a result). One row per (run, image)."""

    __tablename__ = "detection_run_image"
    __table_args__ = (Index(None, "image_id"),)
    run_id: Mapped[int] = mapped_column(ForeignKey("detection_run.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)


class Box(Base):
    __tablename__ = "box"
    __table_args__ = (
        CheckConstraint(_in("source", BOX_SOURCES), name="source"),
        CheckConstraint(_in("state", BOX_STATES), name="state"),
        Index(None, "image_id", "state"),
        Index(None, "detection_run_id"),
        Index(None, "label_import_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    detection_run_id: Mapped[int | None] = mapped_column(ForeignKey("detection_run.id", ondelete="CASCADE"))
    blur: Mapped[int] = mapped_column(Integer, default=0)
    expression: Mapped[int] = mapped_column(Integer, default=0)
    illumination: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    occlusion: Mapped[int] = mapped_column(Integer, default=0)
    pose: Mapped[int] = mapped_column(Integer, default=0)
    ignore: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Bumped by every change; an edit names the version it read and fails if it moved on."""
    label_import_id: Mapped[int | None] = mapped_column(Integer)
    """The ``LabelImport`` that added an imported box (a plain id: the import's row may go)."""


class LabelImport(Base):
    """One label import. A large one is committed a chunk of images at a time, so no other writer
    waits long for the lock; while ``state`` is "running", ``LabelImportUndo`` keeps what each
    chunk replaced, so a failed or killed import is rolled back whole (``app.store.labels``).
    ``heartbeat_at`` moves with every chunk: a running import whose heartbeat stopped was killed."""

    __tablename__ = "label_import"
    __table_args__ = (CheckConstraint(_in("state", LABEL_IMPORT_STATES), name="state"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    author: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="running")
    images: Mapped[int] = mapped_column(Integer, default=0)
    boxes: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelImportUndo(Base):
    """One image as it was before a running import changed it: its review status and the
    imported boxes the import removed (whole rows, JSON). Deleted when the import is done."""

    __tablename__ = "label_import_undo"
    __table_args__ = (Index(None, "import_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("label_import.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    boxes: Mapped[Any] = mapped_column(JSON)


class EnhancementPreset(Base):
    __tablename__ = "enhancement_preset"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    method: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Edit(Base):
    """The append-only edit log: who changed what, from what to what. Backs history and undo."""

    __tablename__ = "edit"
    __table_args__ = (Index(None, "entity", "entity_id"), Index(None, "author", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("edit.id"))
    """Set when this edit undoes an earlier one (an undo is itself an edit, so redo is its undo)."""


class Evaluation(Base):
    """One scored run of a model version on a labelled set: AP@0.5, its PR curve and its mistakes.

    Kept so the experiment table (base raw / base enhanced / fine-tuned enhanced) and the error
    browser come from the store, not from re-running the detector every time the view opens.
    """

    __tablename__ = "evaluation"
    __table_args__ = (Index(None, "model_version_id", "dataset"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(300))
    """``"heldout"`` (the project's ``val`` split) or ``"labels:<parent>/<name>#<hash>"`` (an imported
    labelled set)."""
    enhanced: Mapped[bool] = mapped_column(Boolean, default=False)
    enhance_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ap: Mapped[float | None] = mapped_column(Float)
    """AP@0.5; ``None`` when the set has no face to score against."""
    n_images: Mapped[int] = mapped_column(Integer)
    n_faces: Mapped[int] = mapped_column(Integer)
    curve: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """``{"precision": [...], "recall": [...], "thresholds": [...]}``, at most 200 points."""
    errors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """``{"threshold": t, "false_positives": [...], "missed": [...], "skipped": [...]}``."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dataset_fingerprint: Mapped[str | None] = mapped_column(String(64))
    """sha256 hex of the ground truth scored (``app.store.labelled_sets``); the experiment table
    counts a held-out evaluation as stale when it differs from the held-out set's now."""
