"""Importing labels (WIDER FACE, DARK FACE, COCO) into a project: all or nothing.

The file is parsed completely by ``srn.formats`` (a malformed line raises ``FormatError``
naming the file and line) and every annotation is matched to an image of the project before a
single row is written; the boxes then go in with one transaction. Names match an image's path
relative to its root with or without the extension (DARK FACE names images by id) and may be a
trailing part of it (``0--Parade/x.jpg`` finds ``images/0--Parade/x.jpg``); a name that matches
no image, or several, is an error naming where it was read.

Imported boxes are ``source = imported``, ``state = accepted``. Importing again replaces the
earlier imported boxes that nobody has touched; a box a person edited (moved, rejected, deleted,
flagged) stays as the person left it, and the file's box it came from (IoU ≥ 0.5 with the
coordinates it was imported with, which the edit log keeps) is not added again: a re-import
never duplicates a moved face nor brings back a rejected one.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
from sqlalchemy import delete, select, update

from app.store.database import chunks
from app.store.errors import StoreError
from app.store.models import WIDER_ATTRIBUTES, Box, Edit, Image, utcnow
from app.store.project import Project
from srn.formats.errors import FormatError
from srn.formats.records import OUTSIDE_MODES, Annotation, apply_outside

LABEL_FORMATS = ("wider", "darkface", "coco")


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
    """Parse a label file/folder into ``Annotation`` records (``FormatError`` on bad input)."""
    from srn.formats import coco, darkface, wider
    from srn.formats.records import from_darkface, from_wider

    path = Path(path)
    if fmt == "wider":
        return [from_wider(r) for r in wider.read_gt(path)]
    if fmt == "darkface":
        return from_darkface(darkface.read_labels_folder(path), folder=path, extension="")
    if fmt == "coco":
        return coco.import_coco(path, ground_truth_only=True)
    raise StoreError(f"label format must be one of {', '.join(LABEL_FORMATS)}, got {fmt!r}")


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
    now = utcnow()
    with project.write() as s:
        ids = [i for i, _ in matched]
        if replace_imported:
            originals = _edited_imports(s, ids)
            for n, (image_id, ann) in enumerate(matched):
                keep = _not_edited(ann.boxes, originals.get(image_id))
                report.kept_edited += int((~keep).sum())
                if not keep.all():
                    matched[n] = (image_id, ann.select(keep))
            for chunk in chunks(ids):
                report.replaced += s.execute(
                    delete(Box).where(Box.image_id.in_(chunk), Box.source == "imported",
                                      Box.version == 1).execution_options(synchronize_session=False)).rowcount
        boxes = []
        for image_id, ann in matched:
            attrs = ann.attributes if ann.attributes is not None else None
            for k, (x1, y1, x2, y2) in enumerate(ann.boxes.tolist()):
                row = {"image_id": image_id, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "source": "imported",
                       "state": "accepted", "score": None, "model_version_id": None, "detection_run_id": None,
                       "ignore": bool(ann.ignore_or_false[k]), "author": author, "created_at": now,
                       "updated_at": now, "version": 1}
                row.update({a: int(attrs[k, j]) if attrs is not None else 0 for j, a in enumerate(WIDER_ATTRIBUTES)})
                boxes.append(row)
        for batch in chunks(boxes, 20_000):
            s.execute(Box.__table__.insert(), batch)
        if mark_done:
            for chunk in chunks(ids):
                s.execute(update(Image).where(Image.id.in_(chunk))
                          .values(status="done", updated_at=now).execution_options(synchronize_session=False))
        s.add(Edit(author=author, action="import_labels", entity="project", entity_id=None, before=None,
                   after={"file": str(Path(path).resolve()), "format": fmt, "images": len(ids), "boxes": len(boxes)}))
        report.images, report.boxes = len(ids), len(boxes)
    return report
