"""DARK FACE labels and submissions.

Labels
    ``label/<id>.txt`` holds the face count, then one ``x1 y1 x2 y2`` line per face. Images live
    beside the labels as ``image/<id>.png``.
Submissions
    ``<id>.txt`` per image with one ``x1 y1 x2 y2 score`` line per detection and no header (an image
    without detections has an empty file).

Pixel convention
    Coordinates are 0-based *inclusive* pixel extents: a face covering columns 10..19 is written
    ``10 .. 19`` and is 10 px wide (``x2 - x1 + 1``), the same convention as WIDER FACE's
    ``x1 y1 w h`` (``wider.xyxy_to_xywh`` converts). ``x2 < x1`` or ``y2 < y1`` is an error.

Readers raise ``FormatError`` (``file:line: ...``) and return complete results or nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from srn.fileio import atomic_write_text, path_inside
from srn.formats._lines import format_number, natural_key, parse_count, parse_numbers, read_lines
from srn.formats.errors import FormatError


def _check_inverted(path: Path, first_line: int, boxes: np.ndarray, lines: list[str]) -> None:
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        row = int(np.argmax(bad))
        raise FormatError(path, first_line + row, f"inverted box: x2 < x1 or y2 < y1 in {lines[row].strip()!r}")


def read_label(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one DARK FACE label file into a float64 array of shape (K, 4), rows ``x1 y1 x2 y2``.

    Raises ``FormatError`` (``file:line: ...``) for an unreadable count, a malformed box line,
    an inverted box, or a count that does not match the number of box lines.
    """
    path = Path(path)
    lines = read_lines(path, "DARK FACE label")
    if not lines:
        raise FormatError(path, 1, "empty file: expected the face count on the first line")
    count = parse_count(path, 1, lines[0], "number of faces")
    if len(lines) - 1 != count:
        raise FormatError(path, 1, f"the count says {count} faces but {len(lines) - 1} box lines follow")
    rows = [parse_numbers(path, i, text, 4, "x1 y1 x2 y2") for i, text in enumerate(lines[1:], start=2)]
    boxes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    _check_inverted(path, 2, boxes, lines[1:])
    return boxes


def format_label(boxes: np.ndarray) -> str:
    """The text of a DARK FACE label file for ``boxes`` (K, 4) ``x1 y1 x2 y2``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rows = [" ".join(format_number(v) for v in box) for box in boxes]
    return "\n".join([str(len(rows)), *rows]) + "\n"


def write_label(path: str | os.PathLike[str], boxes: np.ndarray) -> Path:
    """Write a DARK FACE label file atomically."""
    return atomic_write_text(path, format_label(boxes))


def _txt_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder ({what} expected)")
    files = [p for p in folder.glob("*.txt") if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.stem))


def read_labels_folder(folder: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read every ``<id>.txt`` label of a folder: ``{id: boxes}`` in id order (2 before 10).

    All files or a ``FormatError`` naming the first bad file and line.
    """
    return {p.stem: read_label(p) for p in _txt_files(Path(folder), "DARK FACE labels")}


def write_labels_folder(folder: str | os.PathLike[str], labels: Mapping[str, np.ndarray]) -> list[Path]:
    """Write ``{id: boxes}`` as ``<folder>/<id>.txt`` label files (each atomically)."""
    targets = [path_inside(folder, f"{stem}.txt", "image id") for stem in labels]  # all checked first
    return [write_label(t, boxes) for t, boxes in zip(targets, labels.values())]


def format_submission(boxes: np.ndarray, scores: np.ndarray) -> str:
    """A DARK FACE submission file: ``x1 y1 x2 y2 score`` per line, no header."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    return "".join(f"{x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f} {s:.4f}\n" for (x1, y1, x2, y2), s in zip(boxes, scores))


def write_submission(path: str | os.PathLike[str], boxes: np.ndarray, scores: np.ndarray) -> Path:
    """Write one image's DARK FACE submission file atomically."""
    return atomic_write_text(path, format_submission(boxes, scores))


def read_submission(path: str | os.PathLike[str], allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read one submission file -> (boxes (K, 4) ``x1 y1 x2 y2``, scores (K,)), float64.

    An empty file is an image without detections. A header line (a count) is an error: DARK FACE
    submissions have none. An inverted box (``x2 < x1`` or ``y2 < y1``) is an error unless
    ``allow_empty`` (evaluation scores it as the official tool does).
    """
    path = Path(path)
    lines = read_lines(path, "DARK FACE submission")
    rows = []
    for i, text in enumerate(lines, start=1):
        if i == 1 and text.strip().isdigit():
            raise FormatError(path, 1, f"expected 5 numbers (x1 y1 x2 y2 score), found the count line {text.strip()!r} "
                                       "(DARK FACE submissions have no header)")
        rows.append(parse_numbers(path, i, text, 5, "x1 y1 x2 y2 score"))
    data = np.array(rows, dtype=np.float64).reshape(-1, 5)
    if not allow_empty:
        _check_inverted(path, 1, data[:, :4], lines)
    return data[:, :4].copy(), data[:, 4].copy()


def read_submissions_folder(folder: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read every ``<id>.txt`` submission of a folder: ``{id: (boxes, scores)}`` in id order."""
    return {p.stem: read_submission(p) for p in _txt_files(Path(folder), "DARK FACE submissions")}


def write_submissions_folder(folder: str | os.PathLike[str],
                             submissions: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> list[Path]:
    """Write ``{id: (boxes, scores)}`` as ``<folder>/<id>.txt`` submission files (each atomically)."""
    targets = [path_inside(folder, f"{stem}.txt", "image id") for stem in submissions]  # all checked first
    return [write_submission(t, b, s) for t, (b, s) in zip(targets, submissions.values())]
