"""A weights file becomes a model of the project only once it is checked to be one.

Every "Load weights file…" (Detect tab, fine-tune dialog, Manage models) goes through
``register_checkpoint``: the file is read weights-only and fitted against the network its
metadata describes (``srn.engine.checkpoint.verify_checkpoint``) before a row is written, so a
text file renamed ``.pth`` is refused with a dialog saying why, and nothing is registered (nor
preselected after a restart). The name offered comes from the file and its metadata, unique in
the project; Models → Manage models… renames it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.store import ModelVersionData, Project, StoreError, model_versions, register_model, unique_model_name

GENERIC_STEMS = {"best", "last", "model", "checkpoint", "final", "weights", "latest"}
"""File names that say nothing on their own (``runs/7/best.pth``): the folder is added."""
REFUSAL_NAME = "refusedWeights"
"""Object name of the dialog that says why a file was refused (tests find it by this)."""


def suggest_model_name(path: Path, metadata) -> str:
    """A readable name: the file's stem (with its folder when the stem is generic), what it is."""
    stem = path.stem.removesuffix(".pth")
    base = f"{path.parent.name} {stem}" if stem.lower() in GENERIC_STEMS and path.parent.name else stem
    if metadata.source_format == "authors" and "srn" not in base.lower():
        return f"{base} (authors' SRN)"
    return base


def register_checkpoint(parent: QWidget | None, project: Project, path: str | Path) -> ModelVersionData | None:
    """The model version for ``path``: the one already registered for that file, else a new one
    once the file is verified. A refused file opens a dialog naming it and why; returns ``None``."""
    from srn.engine.checkpoint import CheckpointError, verify_checkpoint  # torch: only when a file is picked

    path = Path(path).expanduser().resolve()
    for m in model_versions(project):
        if Path(m.checkpoint_path) == path:
            return m
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # reading SRN.pth takes a second
    try:
        metadata = verify_checkpoint(path)
    except CheckpointError as exc:
        _refuse(parent, path, str(exc))
        return None
    except OSError as exc:
        _refuse(parent, path, f"{path}: {exc.strerror or exc}")
        return None
    finally:
        QApplication.restoreOverrideCursor()
    try:
        return register_model(project, unique_model_name(project, suggest_model_name(path, metadata)), path)
    except (StoreError, OSError) as exc:
        _refuse(parent, path, str(exc))
        return None


def _refuse(parent: QWidget | None, path: Path, reason: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, "Not a detector checkpoint",
                      f"{path.name} was not added as a model.", QMessageBox.StandardButton.Ok, parent)
    box.setObjectName(REFUSAL_NAME)
    box.setInformativeText(reason)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()  # window-modal, not a nested event loop: the window keeps painting


__all__ = ["REFUSAL_NAME", "register_checkpoint", "suggest_model_name"]
