"""A folder of images as a project: the database lives in ``<folder>/.darkface-studio/project.db``.

Opening a folder creates the project on first use, imports images that are new since last time,
and on creation registers the shipped demo model and imports DARK FACE labels found in ``label/``
inside or beside the folder (the layout of the benchmark) as accepted boxes. Qt-free, so the
command line can use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from app.store import PROJECT_DIR, Project, import_images, import_labels, model_versions
from app.store.shipped_models import ensure_demo_model
from srn.formats.errors import FormatError

PROJECT_FILE = "project.db"


def folder_project_path(folder: str | os.PathLike[str]) -> Path:
    return Path(folder).expanduser().resolve() / PROJECT_DIR / PROJECT_FILE


def find_label_folder(folder: Path) -> Path | None:
    for candidate in (folder / "label", folder.parent / "label"):
        if candidate.is_dir() and any(candidate.glob("*.txt")):
            return candidate
    return None


def open_folder_project(folder: str | os.PathLike[str], progress=None, *,
                        import_ground_truth: bool = True) -> tuple[Project, list[str]]:
    """Open (creating if needed) the folder's project; returns it and messages for the log.

    A new project gets the shipped demo model, and (unless ``import_ground_truth`` is false) the
    labels of ``label/`` as accepted boxes.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    path = folder_project_path(folder)
    created = not path.is_file()
    project = Project.create(path, roots=[folder]) if created else Project.open(path)
    messages = []
    try:
        report = import_images(project, folder, progress=progress)
        if report.added or report.problems or report.duplicates:
            messages.append(f"{folder}: {report.summary()}")
        messages += [f"{folder / rel}: {reason}" for rel, reason in report.problems]
        if created or not model_versions(project):  # every picker offers a model from the start
            ensure_demo_model(project)
        labels = find_label_folder(folder) if created and import_ground_truth else None
        if labels is not None:
            try:
                result = import_labels(project, labels, "darkface", allow_unmatched=True, outside="clip")
            except FormatError as exc:  # nothing imported; the images are still there to review
                messages.append(f"labels not imported: {exc}")
            else:
                messages.append(result.summary())
                messages += result.warnings[:20]
    except BaseException:
        project.close()
        raise
    return project, messages
