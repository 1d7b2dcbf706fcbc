"""Exporting a project's labels and predictions through ``srn.formats`` (every file atomic).

Which images: those whose review status is in ``statuses`` (default ``done``: only reviewed
images are ground truth), optionally of one ``split``. A done image without faces is written with
zero faces: that it has none is real information. Names in the files are the image paths relative
to their root (DARK FACE: the file stem, which must then be unique).

Which boxes: labels are the ``accepted`` boxes of any source, with ignore flags and the six WIDER
attributes where the format holds them. In WIDER FACE the ``invalid`` column *is* the ignore flag,
so the flag wins when the two disagree (an edited ``ignore``). Predictions are the ``model`` boxes
of one detection run (default: the latest), ``proposed`` or ``accepted``, with their scores; every
image the run covered gets a file, an empty one where it found nothing.

Everything is read and checked before the first file is written. A folder export refuses a
folder that holds other ``.txt`` files, so stale files of an earlier export never mix in, and
is written all or nothing (``srn.fileio.staged_folder``): a full disk leaves it as it was.

``progress(done, total)`` (optional) is called once everything is read and checked, just before
the first file is written; an exception it raises (a cancel) stops the export with nothing written. The export
dialog lists its choices with ``export_splits`` and ``export_count`` (runs: ``detections.detection_runs``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from app.store.errors import NotFoundError, StoreError
from app.store.project import PROJECT_DIR, Project
from app.store.tables import REVIEW_STATUSES, WIDER_ATTRIBUTES, Box, DetectionRun, DetectionRunImage, Image
from srn.formats.records import Annotation, sort_annotations
from srn.formats.registry import fit_to_format, format_names, get_format, write_labels

EXPORT_FORMATS = format_names(kind=None, writable=True)
"""Every format ``srn.formats.registry`` can write: ground truth, and a run's predictions."""
FOLDER_FORMATS = tuple(name for name in EXPORT_FORMATS if get_format(name).output == "folder")
"""The formats written as a folder (the others write one file)."""
PREDICTIONS = "wider-predictions"

Progress = Callable[[int, int], None]
"""``progress(images done, total)``; raising from it stops the export before anything is written."""


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


@dataclass
class ExportReport:
    out: Path
    format: str
    images: int = 0
    boxes: int = 0
    run_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        what = f"{self.boxes} detections of run {self.run_id}" if self.run_id is not None else f"{self.boxes} faces"
        text = f"exported {self.images} images with {what} as {self.format} to {self.out}"
        return text + (f" ({len(self.warnings)} warnings)" if self.warnings else "")


def _statuses(statuses: Iterable[str] | None) -> list[str]:
    chosen = list(REVIEW_STATUSES if statuses is None else statuses)
    bad = [s for s in chosen if s not in REVIEW_STATUSES]
    if bad or not chosen:
        got = repr(bad[0]) if bad else "no status"
        raise StoreError(f"review status must be one of {', '.join(REVIEW_STATUSES)}, got {got}")
    return chosen


def _image_filter(query, statuses: Iterable[str] | None, split: str | None):
    query = query.where(Image.status.in_(_statuses(statuses)))
    return query.where(Image.split == split) if split is not None else query


def _images(project: Project, statuses, split) -> dict[int, Annotation]:
    """``{image_id: empty Annotation}`` named by path relative to the root; names must be unique."""
    with project.read() as s:
        rows = s.execute(_image_filter(select(Image.id, Image.rel_path, Image.width, Image.height), statuses, split)
                         .order_by(Image.root_id, Image.rel_path)).all()
    out, seen = {}, {}
    for r in rows:
        if r.rel_path in seen:
            raise StoreError(f"two images are named {r.rel_path!r} (in different image roots; ids {seen[r.rel_path]} "
                             f"and {r.id}); an export needs unique names")
        seen[r.rel_path] = r.id
        out[r.id] = Annotation(name=r.rel_path, boxes=np.zeros((0, 4)), width=r.width, height=r.height,
                               scores=None, ignore=np.zeros(0, bool), attributes=np.zeros((0, 6), np.int64))
    return out


def label_annotations(project: Project, statuses: Iterable[str] | None = ("done",),
                      split: str | None = None) -> list[Annotation]:
    """The labels of the chosen images as ``Annotation``s (accepted boxes), sorted by name."""
    anns = _images(project, statuses, split)
    cols = (Box.image_id, Box.x1, Box.y1, Box.x2, Box.y2, Box.ignore, *(getattr(Box, a) for a in WIDER_ATTRIBUTES))
    query = _image_filter(select(*cols).join(Image, Image.id == Box.image_id).where(Box.state == "accepted"),
                          statuses, split).order_by(Box.image_id, Box.id)
    per: dict[int, list] = defaultdict(list)
    with project.read() as s:
        for row in s.execute(query):
            per[row[0]].append(row[1:])
    for image_id, rows in per.items():
        data = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
        ann = anns[image_id]
        ann.boxes, ann.ignore, ann.attributes = data[:, :4], data[:, 4] != 0, data[:, 5:].astype(np.int64)
    return sort_annotations(anns.values())


def _check_folder(folder: Path, keep: set[str]) -> None:
    """Refuse an output folder that holds files of the kind this export writes that it would not
    overwrite (stale files of an earlier export must never mix in)."""
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder} is a file; this export writes a folder")
    if folder.is_dir():
        suffixes = {Path(k).suffix for k in keep} or {".txt"}
        stale = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.suffix in suffixes and p.relative_to(folder).as_posix() not in keep)
        if stale:
            raise StoreError(f"{folder} holds {len(stale)} other {'/'.join(sorted(suffixes))} files (e.g. {stale[0]}) "
                             "that this export would not replace; choose an empty folder")


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"{path} is a folder; this export writes a file")


def _folder_files(fmt: str, anns: list[Annotation]) -> set[str]:
    """The files a folder format writes for ``anns`` (relative paths), each image its own."""
    spec, files = get_format(fmt), {}
    suffix = ".xml" if fmt == "voc" else ".txt"
    for ann in anns:
        rel = f"{ann.stem}{suffix}" if not spec.image_names else \
            (Path(ann.name).parent / f"{Path(ann.name).stem}{suffix}").as_posix()
        if rel in files and not spec.image_names:
            raise StoreError(f"images {files[rel]} and {ann.name} share the {spec.title.removesuffix(' labels')} id "
                             f"{ann.stem!r}; export fewer images (--status, --split) or rename one")
        if rel in files:
            raise StoreError(f"images {files[rel]} and {ann.name} would both be written to {rel}")
        files[rel] = ann.name
    return set(files)


def export_labels(project: Project, out: str | os.PathLike[str], fmt: str, *,
                  statuses: Iterable[str] | None = ("done",), split: str | None = None,
                  progress: Progress | None = None) -> ExportReport:
    """Write the labels in ground-truth format ``fmt`` (``srn.formats.registry``): what the format
    cannot hold is said in the report's warnings (a box without pixels left out, ignored faces
    written as faces), what it cannot be written at all refused before anything is written."""
    spec, out = get_format(fmt), Path(out)
    anns = label_annotations(project, statuses, split)
    if spec.output == "folder":
        _check_folder(out, _folder_files(fmt, anns))
    else:
        _check_file(out)
    anns, warnings = fit_to_format(fmt, anns)
    _tick(progress, len(anns), len(anns))  # read and checked; a cancel here writes nothing
    try:
        write_labels(fmt, anns, out)  # a folder all or nothing: a full disk leaves it as it was
    except ValueError as exc:  # what the format cannot hold (white space in a WIDER name, ...)
        raise StoreError(str(exc)) from None
    return ExportReport(out, fmt, len(anns), sum(len(a.boxes) for a in anns), warnings=warnings)


def export_wider_gt(project: Project, out_file: str | os.PathLike[str], **choices) -> ExportReport:
    """The labels as a WIDER FACE ground-truth text file (``export_labels``)."""
    return export_labels(project, out_file, "wider", **choices)


def export_darkface(project: Project, out_folder: str | os.PathLike[str], **choices) -> ExportReport:
    """The labels as a DARK FACE label folder, ``<stem>.txt`` per image (``export_labels``)."""
    return export_labels(project, out_folder, "darkface", **choices)


def export_coco(project: Project, out_file: str | os.PathLike[str], **choices) -> ExportReport:
    """The labels as COCO ground truth, ignored faces as ``iscrowd`` (``export_labels``)."""
    return export_labels(project, out_file, "coco", **choices)


def _run_images(s, run_id: int) -> set[int]:
    """The images a run looked at, boxes or not (``detection_run_image``)."""
    return set(s.scalars(select(DetectionRunImage.image_id).where(DetectionRunImage.run_id == run_id)))


def _prediction_boxes(run_id: int):
    """The condition on a box to be one of run ``run_id``'s predictions."""
    return ((Box.detection_run_id == run_id) & (Box.source == "model")
            & Box.state.in_(["proposed", "accepted"]))


def latest_run(project: Project) -> int:
    with project.read() as s:
        run_id = s.scalar(select(func.max(DetectionRun.id)))
    if run_id is None:
        raise NotFoundError("the project has no detection runs to export")
    return run_id


def prediction_annotations(project: Project, run_id: int | None = None, *,
                           statuses: Iterable[str] | None = ("done",), split: str | None = None
                           ) -> tuple[int, list[Annotation]]:
    """``(run id, Annotations with scores)`` of the chosen images that the run covered."""
    run_id = latest_run(project) if run_id is None else run_id
    anns = _images(project, statuses, split)
    query = _image_filter(
        select(Box.image_id, Box.x1, Box.y1, Box.x2, Box.y2, Box.score).join(Image, Image.id == Box.image_id)
        .where(_prediction_boxes(run_id)),
        statuses, split).order_by(Box.image_id, Box.score.desc(), Box.id)
    with project.read() as s:
        run = s.get(DetectionRun, run_id)
        if run is None:
            raise NotFoundError(f"no detection run with id {run_id}")
        rows = s.execute(query).all()
        covered = _run_images(s, run_id) | {r.image_id for r in rows}
    per: dict[int, list] = defaultdict(list)
    for r in rows:
        per[r.image_id].append((r.x1, r.y1, r.x2, r.y2, r.score if r.score is not None else 0.0))
    out = []
    for image_id in covered & set(anns):
        data = np.array(per.get(image_id, []), dtype=np.float64).reshape(-1, 5)
        out.append(Annotation(name=anns[image_id].name, boxes=data[:, :4], width=anns[image_id].width,
                              height=anns[image_id].height, scores=data[:, 4]))
    return run_id, sort_annotations(out)


def export_wider_predictions(project: Project, out_folder: str | os.PathLike[str], run_id: int | None = None, *,
                             statuses: Iterable[str] | None = ("done",), split: str | None = None,
                             progress: Progress | None = None) -> ExportReport:
    """Write one run's detections as a WIDER FACE predictions folder (``<event>/<image>.txt``)."""
    out = Path(out_folder)
    run_id, anns = prediction_annotations(project, run_id, statuses=statuses, split=split)
    _check_folder(out, _folder_files(PREDICTIONS, anns))
    _tick(progress, len(anns), len(anns))  # read and checked; a cancel here writes nothing
    write_labels(PREDICTIONS, anns, out)  # all or nothing
    return ExportReport(out, PREDICTIONS, len(anns), sum(len(a.boxes) for a in anns), run_id=run_id)


_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _check_not_project(project: Project, out: Path) -> None:
    """Refuse an output that is the project's own database, one of its side files or backups, or
    anything inside a ``.darkface-studio`` folder: an export must never destroy the project."""
    target = out.resolve()
    if PROJECT_DIR in target.parts:
        raise StoreError(f"{out} is inside a {PROJECT_DIR} folder, which holds a project's database and runs; "
                         "export somewhere else")
    db = project.path.resolve() if project.path is not None else None
    if db is None:
        return
    own = {db} | {db.with_name(db.name + suffix) for suffix in _SQLITE_SIDE_FILES}
    if target in own or (target.parent == db.parent and target.name.startswith(f"{db.name}.backup-")):
        raise StoreError(f"{out} is this project's database (or one of its files); export somewhere else")


def _is_kind(fmt: str, path: Path) -> bool:
    """Whether an existing file is an earlier export of the same kind (safe to replace)."""
    from srn.fileio import read_json_file
    from srn.formats import wider

    try:
        if fmt == "coco":
            data = read_json_file(path, "COCO file")
            return isinstance(data, dict) and "images" in data and "annotations" in data
        wider.read_gt(path)
        return True
    except (ValueError, OSError):
        return False


def _check_overwrite(fmt: str, out: Path, force: bool) -> None:
    if force or fmt not in ("wider", "coco") or not out.is_file() or out.stat().st_size == 0:
        return
    if not _is_kind(fmt, out):
        kind = "a WIDER FACE ground-truth file" if fmt == "wider" else "a COCO JSON file"
        raise StoreError(f"{out} exists and is not {kind}; refusing to replace it (choose another name, or force)")


def export(project: Project, out: str | os.PathLike[str], fmt: str, *, statuses: Iterable[str] | None = ("done",),
           split: str | None = None, run_id: int | None = None, force: bool = False,
           progress: Progress | None = None) -> ExportReport:
    """Export in ``fmt`` (one of ``EXPORT_FORMATS``); ``run_id`` only for ``wider-predictions``.

    Refused before anything is read: an output that is the project itself (its database, side
    files, backups, ``.darkface-studio/``), and, unless ``force``, an existing file of another kind.
    ``progress``: see the module's docstring.
    """
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    out = Path(out)
    _check_not_project(project, out)
    _check_overwrite(fmt, out, force)
    if fmt == PREDICTIONS:
        return export_wider_predictions(project, out, run_id, statuses=statuses, split=split, progress=progress)
    if run_id is not None:
        raise StoreError(f"a detection run is only exported with the {PREDICTIONS} format, not {fmt}")
    return export_labels(project, out, fmt, statuses=statuses, split=split, progress=progress)


# -- what an export dialog offers -----------------------------------------------------------------

def check_destination(project: Project, out: str | os.PathLike[str], fmt: str) -> None:
    """Refuse now, before anything is read, what ``export`` would refuse whatever the choices: the
    project's own files, a folder where a file is written, a file where a folder is written."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    out = Path(out)
    _check_not_project(project, out)
    if fmt not in FOLDER_FORMATS:
        _check_file(out)
    elif out.exists() and not out.is_dir():
        raise StoreError(f"{out} is a file; this export writes a folder")


def export_splits(project: Project) -> list[str]:
    """The split names images carry (``train``, ``val``, ...), sorted; empty when none has one."""
    with project.read() as s:
        return sorted(s.scalars(select(Image.split).where(Image.split.is_not(None)).distinct()))


def export_count(project: Project, fmt: str, *, statuses: Iterable[str] | None = ("done",), split: str | None = None,
                 run_id: int | None = None) -> int:
    """How many images ``export`` with these choices would write, from counts alone (no box is read).

    For ``wider-predictions``: the chosen images the run covered (``run_id`` default: the latest).
    """
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if fmt != "wider-predictions":
        with project.read() as s:
            return s.scalar(_image_filter(select(func.count()).select_from(Image), statuses, split))
    run_id = latest_run(project) if run_id is None else run_id
    with project.read() as s:
        run = s.get(DetectionRun, run_id)
        if run is None:
            raise NotFoundError(f"no detection run with id {run_id}")
        found = s.scalars(select(Box.image_id).where(_prediction_boxes(run_id)).distinct())
        covered = _run_images(s, run_id) | set(found)
        chosen = set(s.scalars(_image_filter(select(Image.id), statuses, split)))
    return len(covered & chosen)


__all__ = ["EXPORT_FORMATS", "FOLDER_FORMATS", "ExportReport", "Progress", "check_destination", "export",
           "export_coco", "export_count", "export_darkface", "export_splits", "export_wider_gt",
           "export_wider_predictions", "label_annotations", "latest_run", "prediction_annotations"]
