"""Every label format in one table: its name, what it can hold, how it is read and written.

``srn convert``, the store's label import and export, the evaluation job and the GUI's Export
dialog all ask this table, so a format is added with one module and one entry here, and what a
format can hold (an ignore flag, WIDER attributes, a box without pixels, image names or only
ids, whether writing it needs image sizes) is said once instead of in every ``if fmt == ...``.

Readers return ``Annotation``s named as the format names images: DARK FACE knows only an id per
image (``"12"``), the others a path (``"0--Parade/0_Parade_1.jpg"``); a caller with an
image folder turns ids into files (``srn.formats.images.find_image``). Writers of folder formats
write all or nothing (``srn.fileio.staged_folder``); file writers write atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srn.formats.records import Annotation

Reader = Callable[[Path], list[Annotation]]
Writer = Callable[[Sequence[Annotation], Path], None]


@dataclass(frozen=True)
class LabelFormat:
    name: str
    title: str
    """What a person calls it ("WIDER FACE ground truth", "DARK FACE labels")."""
    output: str
    """``"file"`` or ``"folder"``: what a reader takes and a writer makes."""
    suffix: str
    """The file suffix of a file format ("" for folders)."""
    kind: str = "ground_truth"
    """``"ground_truth"`` (faces) or ``"predictions"`` (scored detections)."""
    ignore: bool = False
    """Holds an ignore (don't-care) flag per face."""
    attributes: bool = False
    """Holds the six WIDER FACE attributes."""
    image_names: bool = True
    """Names images by path; ``False``: by an id only (the file stem)."""
    needs_sizes: bool = False
    """Writing needs each image's width and height."""
    empty_boxes: bool = True
    """Can hold a box without pixels (width or height 0 in ``x y w h``)."""
    reader: Reader | None = None
    writer: Writer | None = None

    @property
    def readable(self) -> bool:
        return self.reader is not None

    @property
    def writable(self) -> bool:
        return self.writer is not None

    def expected(self) -> str:
        """What a path of this format is, for messages ("a COCO .json file", "a folder of DARK FACE labels")."""
        return f"a folder of {self.title}" if self.output == "folder" else f"a {self.title} {self.suffix} file"


# -- readers and writers ------------------------------------------------------------------------

def _read_wider(path: Path) -> list[Annotation]:
    from srn.formats import wider
    from srn.formats.records import from_wider

    records = wider.read_mat_ground_truth(path).records() if path.suffix.lower() == ".mat" else wider.read_gt(path)
    return [from_wider(r) for r in records]


def _write_wider(anns: Sequence[Annotation], out: Path) -> None:
    from srn.formats import wider
    from srn.formats.records import to_wider

    for ann in anns:
        if len(ann.name.split()) != 1:
            raise ValueError(f"image {ann.name!r}: WIDER FACE names cannot contain white space")
    wider.write_gt(out, [to_wider(a) for a in anns])


def _read_darkface(path: Path) -> list[Annotation]:
    from srn.formats import darkface
    from srn.formats.records import from_darkface

    return from_darkface(darkface.read_labels_folder(path), folder=path, extension="")


def _write_darkface(anns: Sequence[Annotation], out: Path) -> None:
    from srn.fileio import staged_folder
    from srn.formats import darkface
    from srn.formats.records import to_darkface

    labels = to_darkface(anns)  # ValueError: two images share an id
    with staged_folder(out) as stage:
        darkface.write_labels_folder(stage, labels)


def _read_coco(path: Path) -> list[Annotation]:
    from srn.formats import coco

    return coco.import_coco(path, ground_truth_only=True)


def _write_coco(anns: Sequence[Annotation], out: Path) -> None:
    from srn.formats import coco

    coco.export_coco(anns, out)


def _read_voc(path: Path) -> list[Annotation]:
    from srn.formats import voc

    return [voc.read_voc(p) for p in sorted(path.rglob("*.xml")) if p.is_file()]


def _write_voc(anns: Sequence[Annotation], out: Path) -> None:
    from srn.fileio import staged_folder
    from srn.formats import voc

    with staged_folder(out) as stage:
        voc.export_voc(anns, stage)


def _write_yolo(anns: Sequence[Annotation], out: Path) -> None:
    from srn.fileio import staged_folder
    from srn.formats import yolo

    with staged_folder(out) as stage:
        yolo.export_yolo(anns, stage)


def _read_wider_predictions(path: Path) -> list[Annotation]:
    from srn.formats import wider

    return [Annotation(name=key, boxes=boxes, scores=scores)
            for key, (boxes, scores) in sorted(wider.read_predictions(path).items())]


def _write_wider_predictions(anns: Sequence[Annotation], out: Path) -> None:
    from srn.fileio import staged_folder
    from srn.formats import wider

    with staged_folder(out) as stage:
        for ann in anns:
            scores = ann.scores if ann.scores is not None else [1.0] * len(ann.boxes)
            wider.write_prediction(stage, ann.name, ann.boxes, scores)


FORMATS: dict[str, LabelFormat] = {f.name: f for f in (
    LabelFormat("wider", "WIDER FACE ground truth", "file", ".txt", ignore=True, attributes=True,
                reader=_read_wider, writer=_write_wider),
    LabelFormat("darkface", "DARK FACE labels", "folder", "", image_names=False, empty_boxes=False,
                reader=_read_darkface, writer=_write_darkface),
    LabelFormat("coco", "COCO", "file", ".json", ignore=True, attributes=True, needs_sizes=True,
                reader=_read_coco, writer=_write_coco),
    LabelFormat("voc", "Pascal VOC annotations", "folder", "", ignore=True, needs_sizes=True, empty_boxes=False,
                reader=_read_voc, writer=_write_voc),
    LabelFormat("yolo", "YOLO labels", "folder", "", needs_sizes=True, writer=_write_yolo),
    LabelFormat("wider-predictions", "WIDER FACE predictions", "folder", "", kind="predictions",
                reader=_read_wider_predictions, writer=_write_wider_predictions),
)}
"""Every label format, in the order they are offered."""


def get_format(name: str) -> LabelFormat:
    """The format called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"label format must be one of {', '.join(FORMATS)}, got {name!r}") from None


def format_names(*, kind: str | None = "ground_truth", readable: bool = False,
                 writable: bool = False) -> tuple[str, ...]:
    """The names of the formats of ``kind`` (``None``: any) that can be read / written."""
    return tuple(f.name for f in FORMATS.values() if (kind is None or f.kind == kind)
                 and (f.readable or not readable) and (f.writable or not writable))


def read_labels(name: str, path: str | os.PathLike[str]) -> list[Annotation]:
    """Read ``path`` as format ``name``. A missing path is a ``FileNotFoundError`` saying what was
    expected; malformed content a ``FormatError`` naming ``file:line``."""
    fmt, path = get_format(name), Path(path)
    if fmt.reader is None:
        raise ValueError(f"{fmt.title} is written here, not read")
    present = path.is_dir() if fmt.output == "folder" else path.is_file()
    if not present:
        raise FileNotFoundError(f"{path}: no such {fmt.output} ({fmt.expected()} expected)")
    return fmt.reader(path)


def fit_to_format(name: str, anns: Sequence[Annotation]) -> tuple[list[Annotation], list[str]]:
    """``anns`` as format ``name`` can hold them, and what was lost on the way: boxes without
    pixels left out where the format has none (each named by ``file:line`` when known), ignored
    faces noted where it has no ignore flag (they are written as faces)."""
    fmt = get_format(name)
    out, warnings = [], []
    for ann in anns:
        if not fmt.empty_boxes and len(ann.boxes):
            empty = (ann.boxes[:, 2] < ann.boxes[:, 0]) | (ann.boxes[:, 3] < ann.boxes[:, 1])
            for k in np.flatnonzero(empty):
                path, line = ann.where(int(k))
                at = f"{path}:{line}: " if line is not None else ""
                warnings.append(f"{at}box of {ann.name} without pixels (w or h is 0) left out")
            if empty.any():
                ann = ann.select(~empty)
        ignored = int(ann.ignore_or_false.sum()) if len(ann.boxes) else 0
        if not fmt.ignore and ignored:
            warnings.append(f"{ann.name}: {ignored} ignored faces written as faces (the {fmt.name} format has no "
                            "ignore flag)")
        out.append(ann)
    return out, warnings


def write_labels(name: str, anns: Sequence[Annotation], out: str | os.PathLike[str]) -> None:
    """Write ``anns`` as format ``name`` to ``out`` (a folder: all or nothing). ``ValueError`` when
    the annotations cannot be written so (sizes missing, two images with one id, …)."""
    fmt, out = get_format(name), Path(out)
    if fmt.writer is None:
        raise ValueError(f"{fmt.title} is read here, not written")
    if fmt.output == "file" and out.is_dir():
        raise ValueError(f"{out} is a folder; {fmt.title} is a file")
    if fmt.output == "folder" and out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; {fmt.title} is a folder")
    if fmt.needs_sizes:
        missing = [a.name for a in anns if a.width is None or a.height is None]
        if missing:
            raise ValueError(f"{fmt.title} needs image sizes; unknown for {len(missing)} images, e.g. {missing[0]}")
    fmt.writer(anns, out)


__all__ = ["FORMATS", "LabelFormat", "fit_to_format", "format_names", "get_format", "read_labels", "write_labels"]
