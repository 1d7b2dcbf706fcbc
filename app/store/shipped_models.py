"""The models that come with the app, registered in a project so every model picker offers them.

A new project would otherwise start with no model at all: Detect disabled, nothing to fine-tune.
The demo model (``resources/models/``, trained on synthetic faces) is registered once per project,
recognised by its sha256, with the held-out numbers from its checkpoint as metrics. When the app
was reinstalled elsewhere, the row follows the file to its new path instead of pointing nowhere.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.store.detections import ModelVersionData, _checkpoint_digest, _insert_model_version
from app.store.project import Project
from app.store.tables import ModelVersion
from app.store.training import unique_model_name


def _demo_metrics(path: Path) -> dict:
    """The demo checkpoint's stored held-out metrics (``{}`` if it carries none)."""
    from srn.engine.checkpoint import read_checkpoint_file, split_checkpoint

    _, meta = split_checkpoint(read_checkpoint_file(path), path)
    return {"demo": True, **dict(meta.metrics or {})}


def ensure_demo_model(project: Project) -> ModelVersionData | None:
    """The project's row of the shipped demo model, registering it first if needed.

    ``None`` when this install has no demo model (a stripped-down build): a project opens
    without it rather than failing.
    """
    from srn.engine.shipped_models import DEMO_MODEL_NAME, demo_model_path

    try:
        path, digest = _checkpoint_digest(demo_model_path())
    except FileNotFoundError:
        return None
    with project.read() as s:
        row = s.scalars(select(ModelVersion).where(ModelVersion.checkpoint_sha256 == digest)
                        .order_by(ModelVersion.id)).first()
        known = ModelVersionData.from_row(row) if row is not None else None
    if known is not None and Path(known.checkpoint_path) == path:
        return known
    if known is not None:  # the same file at a new place (the app was reinstalled or moved)
        with project.write() as s:
            moved = s.get(ModelVersion, known.id)
            moved.checkpoint_path = str(path)
            s.flush()
            return ModelVersionData.from_row(moved)
    metrics = _demo_metrics(path)
    name = unique_model_name(project, DEMO_MODEL_NAME)
    with project.write() as s:
        return _insert_model_version(s, name, path, digest, parent_id=None, training_run_id=None, metrics=metrics)
