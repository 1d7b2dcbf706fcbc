"""Importing labels (WIDER FACE, DARK FACE, COCO) into a project: all or nothing.

The file is parsed completely by ``srn.formats`` (a malformed line raises ``FormatError``
naming the file and line) and every annotation is matched to an image of the project before a
single row is written. Names match an image's path
relative to its root with or without the extension (DARK FACE names images by id) and may be a
trailing part of it (``0--Parade/x.jpg`` finds ``images/0--Parade/x.jpg``); a name that matches
no image, or several, is an error naming where it was read.

The boxes go in a chunk of images at a time (``CHUNK_BOXES``), each chunk its own short
transaction, so a reviewer's edit never waits long behind a million-box import; the import stays
all or nothing: a journal (``LabelImport``, ``LabelImportUndo``) keeps what each chunk replaced,
a failure rolls every chunk back, and an import killed midway is rolled back by the next
``Project.open`` (``recover_interrupted_imports``). Other readers see the images fill in as
the chunks commit.

Imported boxes are ``source = imported``, ``state = accepted``. Importing again replaces the
earlier imported boxes that nobody has touched; a box a person edited (moved, rejected, deleted,
flagged) stays as the person left it, and the file's box it came from (IoU ≥ 0.5 with the
coordinates it was imported with, which the edit log keeps) is not added again: a re-import
never duplicates a moved face nor brings back a rejected one.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np
from sqlalchemy import delete, select, update

from app.store.database import chunks
from app.store.errors import StoreError
from app.store.project import Project
from app.store.tables import WIDER_ATTRIBUTES, Box, Edit, Image, LabelImport, LabelImportUndo, utcnow
from srn.formats.errors import FormatError
from srn.formats.records import OUTSIDE_MODES, Annotation, apply_outside
from srn.formats.registry import format_names, read_labels

LABEL_FORMATS = format_names(readable=True)
"""The ground-truth formats a label set can be imported from."""


@dataclass
class LabelImportReport:
    source: Path
    images: int = 0
    boxes: int = 0
    replaced: int = 0
    kept_edited: int = 0
    """File boxes not added because a person had edited the box they were imported as."""
    warnings: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.source}: {self.boxes} boxes on {self.images} images imported"
        if self.replaced:
            text += f", {self.replaced} earlier imported boxes replaced"
        if self.kept_edited:
            text += f", {self.kept_edited} kept as a person edited them"
        if self.unmatched:
            text += f", {len(self.unmatched)} annotated images not in the project skipped"
        if self.warnings:
            text += f", {len(self.warnings)} warnings"
        return text


def read_annotations(path: str | os.PathLike[str], fmt: str) -> list[Annotation]:
    """Parse a label file/folder into ``Annotation`` records through ``srn.formats.registry``
    (``FormatError`` on bad input; DARK FACE names are ids, matched to images by stem)."""
    if fmt not in LABEL_FORMATS:
        raise StoreError(f"label format must be one of {', '.join(LABEL_FORMATS)}, got {fmt!r}")
    return read_labels(fmt, path)


def _key(rel_path: str) -> str:
    p = PurePosixPath(rel_path)
    return p.with_suffix("").as_posix() if p.suffix else p.as_posix()


def _index(rows) -> dict[str, list[int]]:
    """Every trailing part of every image path (extension dropped) -> image ids."""
    index: dict[str, list[int]] = defaultdict(list)
    for image_id, rel in rows:
        parts = PurePosixPath(_key(rel)).parts
        for i in range(len(parts)):
            index["/".join(parts[i:])].append(image_id)
    return index


def _where(ann: Annotation) -> str:
    source, line = ann.where(0) if len(ann.boxes) and ann.lines is not None else (ann.source or ann.name, None)
    return f"{source}:{line}" if line is not None else f"{source}"


def _edited_imports(session, image_ids: list[int]) -> dict[int, np.ndarray]:
    """``{image_id: (K, 4) coordinates}`` that the imported boxes a person edited were imported
    with: the ``before`` of each box's first coordinate edit, else its coordinates now."""
    rows = []
    for chunk in chunks(image_ids):
        rows += session.execute(select(Box.id, Box.image_id, Box.x1, Box.y1, Box.x2, Box.y2).where(
            Box.image_id.in_(chunk), Box.source == "imported", Box.version > 1)).all()
    first: dict[int, tuple] = {}
    for chunk in chunks([r.id for r in rows]):
        edits = session.execute(select(Edit.entity_id, Edit.before).where(
            Edit.entity == "box", Edit.entity_id.in_(chunk)).order_by(Edit.id)).all()
        for box_id, before in edits:
            if box_id not in first and isinstance(before, dict) and all(k in before for k in ("x1", "y1", "x2", "y2")):
                first[box_id] = tuple(float(before[k]) for k in ("x1", "y1", "x2", "y2"))
    out: dict[int, list] = defaultdict(list)
    for r in rows:
        out[r.image_id].append(first.get(r.id, (r.x1, r.y1, r.x2, r.y2)))
    return {image_id: np.array(boxes, dtype=np.float64) for image_id, boxes in out.items()}


def _not_edited(boxes: np.ndarray, originals: np.ndarray | None, threshold: float = 0.5) -> np.ndarray:
    """Which of a file's boxes match no edited imported box (one-to-one, best IoU first)."""
    from srn.eval.matching import iou_matrix

    keep = np.ones(len(boxes), dtype=bool)
    if originals is None or not len(boxes):
        return keep
    iou = iou_matrix(boxes, originals)
    while iou.size and iou.max() >= threshold:
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        keep[i] = False
        iou[i, :] = -1
        iou[:, j] = -1
    return keep


CHUNK_BOXES = 5_000
"""Boxes committed per transaction (about 0.15 s on SQLite on 2 cores): about the longest any
other writer, such as a reviewer's edit, waits on an import."""
CHUNK_IMAGES = 2_000
PAUSE_S = 0.12
"""Between two chunks on SQLite: longer than the 100 ms a waiting writer's busy handler sleeps
between tries, so the reviewer's edit gets the lock instead of the import's next chunk."""
STALE_AFTER_S = 120.0
"""A running import whose heartbeat is older than this was killed: ``recover_interrupted_imports``."""


def _chunks(matched: list[tuple[int, Annotation]]):
    """Consecutive runs of images holding at most ``CHUNK_BOXES`` boxes (an image is never split)."""
    chunk, boxes = [], 0
    for item in matched:
        if chunk and (boxes + len(item[1].boxes) > CHUNK_BOXES or len(chunk) >= CHUNK_IMAGES):
            yield chunk
            chunk, boxes = [], 0
        chunk.append(item)
        boxes += len(item[1].boxes)
    if chunk:
        yield chunk


def _let_others_write(project: Project) -> None:
    if project.is_sqlite:  # PostgreSQL locks rows, not the database: nobody waits on us there
        time.sleep(PAUSE_S)


def _start(project: Project, path, fmt: str, author: str) -> int:
    with project.write() as s:
        job = LabelImport(source=str(Path(path).resolve()), format=fmt, author=author, state="running")
        s.add(job)
        s.flush()
        return job.id


_BOX_COLUMNS = [c.name for c in Box.__table__.columns if c.name != "id"]


def _as_json(row) -> dict:
    """A box row as JSON values (datetimes as ISO text), for ``LabelImportUndo.boxes``."""
    return {c: (v.isoformat() if isinstance(v, datetime) else v) for c, v in zip(_BOX_COLUMNS, row)}


def _from_json(values: dict) -> dict:
    return {c: (datetime.fromisoformat(values[c]) if c in ("created_at", "updated_at") and values[c] else values[c])
            for c in _BOX_COLUMNS if c in values}


def _import_chunk(s, job: int, chunk: list[tuple[int, Annotation]], report: LabelImportReport, author: str, *,
                  replace_imported: bool, mark_done: bool) -> None:
    """One transaction: keep each image's state in the undo journal, then replace its untouched
    imported boxes with the file's (minus those a person edited) and mark it done."""
    now = utcnow()
    ids = [i for i, _ in chunk]
    statuses = {}
    for part in chunks(ids):
        statuses.update(s.execute(select(Image.id, Image.status).where(Image.id.in_(part))).all())
    old: dict[int, list] = defaultdict(list)
    old_ids: list[int] = []
    if replace_imported:
        originals = _edited_imports(s, ids)
        for n, (image_id, ann) in enumerate(chunk):
            keep = _not_edited(ann.boxes, originals.get(image_id))
            report.kept_edited += int((~keep).sum())
            if not keep.all():
                chunk[n] = (image_id, ann.select(keep))
        columns = [Box.__table__.c[c] for c in _BOX_COLUMNS]
        for part in chunks(ids):
            for row in s.execute(select(Box.id, *columns).where(
                    Box.image_id.in_(part), Box.source == "imported", Box.version == 1)).all():
                old[row.image_id].append(_as_json(row[1:]))
                old_ids.append(row.id)
    s.execute(LabelImportUndo.__table__.insert(), [
        {"import_id": job, "image_id": i, "status": statuses[i], "boxes": old.get(i, [])} for i in ids])
    for part in chunks(old_ids):
        s.execute(delete(Box).where(Box.id.in_(part)).execution_options(synchronize_session=False))
    report.replaced += len(old_ids)
    boxes = []
    for image_id, ann in chunk:
        attrs = ann.attributes if ann.attributes is not None else None
        for k, (x1, y1, x2, y2) in enumerate(ann.boxes.tolist()):
            row = {"image_id": image_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "source": "imported",
                   "state": "accepted", "score": None, "model_version_id": None, "detection_run_id": None,
                   "ignore": bool(ann.ignore_or_false[k]), "author": author, "created_at": now,
                   "updated_at": now, "version": 1, "label_import_id": job}
            row.update({a: int(attrs[k, j]) if attrs is not None else 0 for j, a in enumerate(WIDER_ATTRIBUTES)})
            boxes.append(row)
    if boxes:
        s.execute(Box.__table__.insert(), boxes)
    if mark_done:
        for part in chunks(ids):
            s.execute(update(Image).where(Image.id.in_(part))
                      .values(status="done", updated_at=now).execution_options(synchronize_session=False))
    s.execute(update(LabelImport).where(LabelImport.id == job).values(heartbeat_at=now))
    report.images += len(ids)
    report.boxes += len(boxes)


def roll_back(project: Project, job: int, images_per_step: int = 500) -> None:
    """Undo a running import a chunk of images at a time: remove the boxes it added that nobody
    has edited since, put back the boxes it replaced and each image's review status."""
    while True:
        with project.write() as s:
            undo = s.execute(select(LabelImportUndo.id, LabelImportUndo.image_id, LabelImportUndo.status,
                                    LabelImportUndo.boxes).where(LabelImportUndo.import_id == job)
                             .order_by(LabelImportUndo.id).limit(images_per_step)).all()
            if not undo:
                s.execute(update(LabelImport).where(LabelImport.id == job, LabelImport.state == "running")
                          .values(state="rolled_back", heartbeat_at=utcnow()))
                return
            ids = [u.image_id for u in undo]
            s.execute(delete(Box).where(Box.image_id.in_(ids), Box.label_import_id == job, Box.version == 1)
                      .execution_options(synchronize_session=False))
            rows = [_from_json(b) for u in undo for b in (u.boxes or [])]
            if rows:
                s.execute(Box.__table__.insert(), rows)
            for u in undo:
                s.execute(update(Image).where(Image.id == u.image_id).values(status=u.status)
                          .execution_options(synchronize_session=False))
            s.execute(delete(LabelImportUndo).where(LabelImportUndo.id.in_([u.id for u in undo]))
                      .execution_options(synchronize_session=False))
        _let_others_write(project)


def _forget_undo(project: Project, job: int, rows_per_step: int = 2_000) -> None:
    """Drop a finished import's undo journal, in short transactions (it is only garbage now)."""
    while True:
        with project.write() as s:
            ids = s.scalars(select(LabelImportUndo.id).where(LabelImportUndo.import_id == job)
                            .limit(rows_per_step)).all()
            if not ids:
                return
            s.execute(delete(LabelImportUndo).where(LabelImportUndo.id.in_(ids))
                      .execution_options(synchronize_session=False))


def recover_interrupted_imports(project: Project, stale_after_s: float | None = None) -> list[int]:
    """Roll back every import left "running" by a process that died (heartbeat older than
    ``stale_after_s``, default ``STALE_AFTER_S``); finish forgetting the journal of done ones.
    Returns the rolled-back ids."""
    limit = utcnow() - timedelta(seconds=STALE_AFTER_S if stale_after_s is None else stale_after_s)
    with project.read() as s:
        jobs = s.execute(select(LabelImport.id, LabelImport.state, LabelImport.heartbeat_at)
                         .where(LabelImport.state == "running")).all()
        done_with_undo = s.scalars(select(LabelImportUndo.import_id).join(LabelImport)
                                   .where(LabelImport.state != "running").distinct()).all()
    stale = [j.id for j in jobs if j.heartbeat_at < limit]
    for job in stale:
        roll_back(project, job)
    for job in done_with_undo:
        _forget_undo(project, job)
    return stale


def import_labels(project: Project, path: str | os.PathLike[str], fmt: str, *, outside: str = "clip",
                  allow_unmatched: bool = False, mark_done: bool = True, replace_imported: bool = True,
                  author: str | None = None) -> LabelImportReport:
    """Import a label file/folder; nothing is written unless every part of it is accepted."""
    if outside not in OUTSIDE_MODES:
        raise StoreError(f"outside must be one of {', '.join(OUTSIDE_MODES)}, got {outside!r}")
    annotations = read_annotations(path, fmt)
    if not annotations:
        raise FormatError(Path(path), None, "no annotated images in it (an empty file or folder); nothing imported")
    report = LabelImportReport(source=Path(path))
    with project.read() as s:
        rows = s.execute(select(Image.id, Image.rel_path, Image.width, Image.height)).all()
    index = _index((r.id, r.rel_path) for r in rows)
    sizes = {r.id: (r.width, r.height) for r in rows}
    matched: list[tuple[int, Annotation]] = []
    seen: dict[int, str] = {}
    for ann in annotations:
        ids = index.get(_key(ann.name), [])
        if len(ids) > 1:
            raise FormatError(_where(ann), None, f"image name {ann.name!r} matches {len(ids)} images of the project; "
                              "use paths relative to the image root")
        if not ids:
            if allow_unmatched:
                report.unmatched.append(ann.name)
                continue
            raise FormatError(_where(ann), None, f"no image {ann.name!r} in the project (import the images first, "
                              "or allow unmatched names to skip it)")
        image_id = ids[0]
        if image_id in seen:
            raise FormatError(_where(ann), None, f"image {ann.name!r} is annotated twice (also as {seen[image_id]!r})")
        seen[image_id] = ann.name
        width, height = sizes[image_id]
        if ann.width is not None and (ann.width, ann.height) != (width, height):
            raise FormatError(_where(ann), None, f"the file says {ann.name} is {ann.width}x{ann.height} but the "
                              f"image is {width}x{height}")
        fixed, messages = apply_outside(replace(ann, width=width, height=height), outside)
        report.warnings += messages
        matched.append((image_id, fixed))

    author = author or project.author
    job = _start(project, path, fmt, author)
    try:
        for n, chunk in enumerate(_chunks(matched)):
            if n:
                _let_others_write(project)
            with project.write() as s:
                _import_chunk(s, job, chunk, report, author, replace_imported=replace_imported,
                              mark_done=mark_done)
        with project.write() as s:  # the last commit is short: the import counts from now on
            s.execute(update(LabelImport).where(LabelImport.id == job).values(
                state="done", images=report.images, boxes=report.boxes, heartbeat_at=utcnow()))
            s.add(Edit(author=author, action="import_labels", entity="project", entity_id=None, before=None,
                       after={"file": str(Path(path).resolve()), "format": fmt, "images": report.images,
                              "boxes": report.boxes, "label_import_id": job}))
    except BaseException:
        try:
            roll_back(project, job)
        except Exception:  # noqa: BLE001 - e.g. the disk is still full: left "running", the next open rolls it back
            pass
        raise
    _forget_undo(project, job)
    return report
