"""DARK FACE labels: ``label/<id>.txt`` holds the face count, then one ``x1 y1 x2 y2`` line per face.

Coordinates are inclusive pixel extents (a face covering columns 10..19 is ``10 .. 19``, 10 px wide).
Images live beside the labels as ``image/<id>.png``. This is the minimal reader/writer that the
synthetic data and the first app need; the formats issue extends it (submissions, validation).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from srn.fileio import atomic_write_text
from srn.formats._lines import format_number, parse_count, parse_numbers
from srn.formats.errors import FormatError


def read_label(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one DARK FACE label file into a float64 array of shape (K, 4), rows ``x1 y1 x2 y2``.

    Raises ``FormatError`` (``file:line: ...``) for an unreadable count, a malformed box line,
    an inverted box, or a count that does not match the number of box lines.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise FormatError(path, None, "not a text file (DARK FACE label expected)") from None
    # Trailing blank lines are common in hand-edited files; blank lines elsewhere are errors.
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise FormatError(path, 1, "empty file: expected the face count on the first line")
    count = parse_count(path, 1, lines[0], "number of faces")
    if len(lines) - 1 != count:
        raise FormatError(path, 1, f"the count says {count} faces but {len(lines) - 1} box lines follow")
    boxes = np.zeros((count, 4), dtype=np.float64)
    for i, text in enumerate(lines[1:]):
        lineno = i + 2
        x1, y1, x2, y2 = parse_numbers(path, lineno, text, 4, "x1 y1 x2 y2")
        if x2 < x1 or y2 < y1:
            raise FormatError(path, lineno, f"inverted box: x2 < x1 or y2 < y1 in {text.strip()!r}")
        boxes[i] = (x1, y1, x2, y2)
    return boxes


def format_label(boxes: np.ndarray) -> str:
    """The text of a DARK FACE label file for ``boxes`` (K, 4) ``x1 y1 x2 y2``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows = [" ".join(format_number(v) for v in box) for box in boxes]
    return "\n".join([str(len(rows)), *rows]) + "\n"


def write_label(path: str | os.PathLike[str], boxes: np.ndarray) -> Path:
    """Write a DARK FACE label file atomically."""
    return atomic_write_text(path, format_label(boxes))


def format_submission(boxes: np.ndarray, scores: np.ndarray) -> str:
    """A DARK FACE submission file: ``x1 y1 x2 y2 score`` per line, no header."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return "".join(f"{x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f} {s:.4f}\n" for (x1, y1, x2, y2), s in zip(boxes, np.asarray(scores)))


def write_submission(path: str | os.PathLike[str], boxes: np.ndarray, scores: np.ndarray) -> Path:
    """Write one image's DARK FACE submission file atomically."""
    return atomic_write_text(path, format_submission(boxes, scores))
