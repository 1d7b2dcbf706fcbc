"""WIDER FACE ground truth (``wider_face_*_bbx_gt.txt``).

Per image: the file name (relative to the image root), the face count, then one line
``x1 y1 w h blur expression illumination invalid occlusion pose`` per face. Widths are inclusive
(a face covering columns ``x1 .. x2`` has ``w = x2 - x1 + 1``). An image with no faces still carries
one all-zero line that is not a face. Minimal reader/writer; the formats issue extends it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srn.fileio import atomic_write_text
from srn.formats._lines import format_number, parse_count, parse_numbers
from srn.formats.errors import FormatError

ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


@dataclass
class WiderRecord:
    """One image of a WIDER FACE ground-truth file."""

    name: str
    boxes: np.ndarray  # (K, 4) float64: x1 y1 w h
    attributes: np.ndarray = field(default=None)  # (K, 6) int64, columns as ATTRIBUTES

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.attributes is None:
            self.attributes = np.zeros((len(self.boxes), len(ATTRIBUTES)), dtype=np.int64)
        self.attributes = np.asarray(self.attributes, dtype=np.int64).reshape(-1, len(ATTRIBUTES))
        if len(self.attributes) != len(self.boxes):
            raise ValueError(f"{self.name}: {len(self.boxes)} boxes but {len(self.attributes)} attribute rows")


def iter_gt(path: str | os.PathLike[str]) -> Iterator[WiderRecord]:
    """Stream the records of a WIDER FACE ground-truth file; malformed input raises ``FormatError``."""
    path = Path(path)
    with path.open("r", encoding="utf-8") as fh:
        lineno = 0

        def next_line(expected: str) -> str:
            nonlocal lineno
            text = fh.readline()
            lineno += 1
            if not text:
                raise FormatError(path, lineno, f"unexpected end of file: expected {expected}")
            return text

        while True:
            text = fh.readline()
            lineno += 1
            if not text:
                return
            name = text.strip()
            if not name:
                if fh.read().strip():
                    raise FormatError(path, lineno, "blank line where an image file name was expected")
                return
            if len(name.split()) != 1 or name.replace(".", "").isdigit():
                raise FormatError(path, lineno, f"expected an image file name, found {name!r}")
            count_text = next_line("the face count")
            count = parse_count(path, lineno, count_text, f"face count of {name}")
            rows = []
            for _ in range(max(count, 1)):  # a face-less image still has one all-zero line
                face_text = next_line(f"a face line of {name}")
                rows.append(parse_numbers(path, lineno, face_text, 10, "x1 y1 w h + 6 attributes"))
            if count == 0:
                rows = []
            data = np.asarray(rows, dtype=np.float64).reshape(-1, 10)
            yield WiderRecord(name=name, boxes=data[:, :4], attributes=data[:, 4:].astype(np.int64))


def read_gt(path: str | os.PathLike[str]) -> list[WiderRecord]:
    """Read a whole WIDER FACE ground-truth file."""
    return list(iter_gt(path))


def format_gt(records: Iterable[WiderRecord]) -> str:
    """The text of a WIDER FACE ground-truth file."""
    out: list[str] = []
    for rec in records:
        out.append(rec.name)
        out.append(str(len(rec.boxes)))
        if len(rec.boxes) == 0:
            out.append(" ".join(["0"] * 10))
        for box, attrs in zip(rec.boxes, rec.attributes):
            out.append(" ".join([*(format_number(v) for v in box), *(str(int(a)) for a in attrs)]))
    return "\n".join(out) + "\n"


def write_gt(path: str | os.PathLike[str], records: Iterable[WiderRecord]) -> Path:
    """Write a WIDER FACE ground-truth file atomically."""
    return atomic_write_text(path, format_gt(records))


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Inclusive pixel extents ``x1 y1 x2 y2`` -> WIDER ``x1 y1 w h`` (``w = x2 - x1 + 1``)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1], axis=1)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """WIDER ``x1 y1 w h`` -> inclusive pixel extents ``x1 y1 x2 y2``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1], axis=1)


def format_prediction(name: str, boxes_xyxy: np.ndarray, scores: np.ndarray) -> str:
    """The text of one WIDER FACE prediction file: image name (no extension), count, then
    ``x y w h score`` lines with inclusive widths (as the authors' test script writes them)."""
    xywh = xyxy_to_xywh(boxes_xyxy)
    lines = [name, str(len(xywh))]
    lines += [f"{x:.1f} {y:.1f} {w:.1f} {h:.1f} {s:.4f}" for (x, y, w, h), s in zip(xywh, np.asarray(scores))]
    return "\n".join(lines) + "\n"


def write_prediction(root: str | os.PathLike[str], image_name: str, boxes_xyxy: np.ndarray, scores: np.ndarray) -> Path:
    """Write ``<root>/<event>/<image>.txt`` for ``image_name`` = ``"<event>/<image>.jpg"`` (atomically).

    Images outside an event folder go to ``<root>/<image>.txt``.
    """
    rel = Path(image_name)
    target = Path(root) / rel.parent / f"{rel.stem}.txt"
    return atomic_write_text(target, format_prediction(rel.stem, boxes_xyxy, scores))
