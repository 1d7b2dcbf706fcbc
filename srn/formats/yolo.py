"""YOLO txt labels: one ``<stem>.txt`` per image (event folders kept), ``class cx cy w h`` per box.

Pixel convention
    Normalised centre and size in continuous coordinates, pixel ``i`` covering ``[i, i + 1)``: a box
    with inclusive extents ``x1 .. x2`` spans ``[x1, x2 + 1)``, so
    ``cx = (x1 + x2 + 1) / 2 / width`` and ``w = (x2 - x1 + 1) / width`` (``y`` likewise).
    Example: ``x1 y1 x2 y2 = 10 20 19 39`` in a 100 x 50 image <-> ``0 0.150000 0.600000 0.100000 0.400000``.
    Six decimals keep round trips exact to the pixel for images up to 100 000 px wide.
    Class 0 is ``face``. YOLO has no ignore flag: ``skip_ignored`` leaves ignored faces out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from srn.fileio import atomic_write_text, path_inside
from srn.formats._lines import read_lines
from srn.formats.errors import FormatError
from srn.formats.records import Annotation


def to_yolo(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inclusive ``x1 y1 x2 y2`` -> normalised ``cx cy w h`` (K, 4)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2] + 1) / 2 / width, (b[:, 1] + b[:, 3] + 1) / 2 / height,
                     (b[:, 2] - b[:, 0] + 1) / width, (b[:, 3] - b[:, 1] + 1) / height], axis=1)


def from_yolo(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised ``cx cy w h`` -> inclusive ``x1 y1 x2 y2`` (K, 4)."""
    r = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    cx, cy, w, h = r[:, 0] * width, r[:, 1] * height, r[:, 2] * width, r[:, 3] * height
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2 - 1, cy + h / 2 - 1], axis=1)


def format_yolo(record: Annotation, class_id: int = 0, skip_ignored: bool = False) -> str:
    """The text of one image's YOLO label file."""
    if record.width is None:
        raise ValueError(f"{record.name}: YOLO needs the image size (width and height); give the images folder")
    rec = record.select(~record.ignore_or_false) if skip_ignored else record
    assert rec.width is not None and rec.height is not None  # select keeps the size; both or neither
    rows = to_yolo(rec.boxes, rec.width, rec.height)
    return "".join(f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for cx, cy, w, h in rows)


def yolo_path(folder: str | os.PathLike[str], name: str) -> Path:
    """Where ``export_yolo`` puts the labels of image ``name``; ``UnsafePathError`` if outside ``folder``."""
    rel = Path(name)
    return path_inside(folder, rel.parent / f"{rel.stem}.txt", "image name")


def export_yolo(records: Iterable[Annotation], folder: str | os.PathLike[str], class_id: int = 0,
                skip_ignored: bool = False) -> list[Path]:
    """Write one YOLO label file per record (each atomically); sizes are all checked first."""
    records = list(records)
    missing = [r.name for r in records if r.width is None]
    if missing:
        raise ValueError(f"YOLO needs image sizes; unknown for {len(missing)} images, e.g. {missing[0]}")
    targets = [yolo_path(folder, r.name) for r in records]  # every path checked before the first write
    return [atomic_write_text(t, format_yolo(r, class_id, skip_ignored)) for t, r in zip(targets, records)]


def read_yolo(path: str | os.PathLike[str], width: int, height: int, class_id: int | None = 0) -> np.ndarray:
    """Read one YOLO label file -> inclusive ``x1 y1 x2 y2`` (K, 4) for an image of ``width`` x ``height``.

    Lines of other classes are skipped (all are read when ``class_id`` is ``None``).
    """
    path = Path(path)
    rows = []
    for lineno, text in enumerate(read_lines(path, "YOLO label file"), start=1):
        fields = text.split()
        if len(fields) != 5:
            raise FormatError(path, lineno,
                              f"expected 5 fields (class cx cy w h), found {len(fields)}: {text.strip()!r}")
        if not fields[0].isdigit():
            raise FormatError(path, lineno, f"expected an integer class id, found {fields[0]!r}")
        try:
            values = [float(f) for f in fields[1:]]
        except ValueError:
            raise FormatError(path, lineno, f"expected numbers (cx cy w h), found {text.strip()!r}") from None
        if not all(0 <= v <= 1 for v in values):
            raise FormatError(path, lineno, f"expected normalised values in 0..1 (cx cy w h), found {text.strip()!r}")
        if class_id is None or int(fields[0]) == class_id:
            rows.append(values)
    return from_yolo(np.array(rows, dtype=np.float64).reshape(-1, 4), width, height)
