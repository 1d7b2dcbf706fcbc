"""A folder of predictions in whichever form ``srn detect`` wrote it, recognised from its files.

``srn detect --format`` writes a WIDER FACE prediction folder (``<event>/<image>.txt``: image
name, count, ``x y w h score`` lines), a DARK FACE submission folder (``<id>.txt``: ``x1 y1 x2 y2
score`` lines, no header) or ``detections.json``; ``srn eval --pred`` takes any of them, so the
commands chain. A text file whose first two lines are single words is a WIDER FACE file (a DARK
FACE id such as ``1`` is a name there, not a count); lines of five numbers are a submission.

Boxes without pixels (width or height 0 or less: detectors do emit them for tiny faces) are
kept and counted by default, as the official tools take them; ``allow_empty=False`` refuses them
with ``file:line``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srn.fileio import read_json_file
from srn.formats import darkface, wider
from srn.formats._lines import MAX_COORDINATE, read_lines
from srn.formats.errors import FormatError

DETECTIONS_JSON = "detections.json"
KINDS = ("wider", "darkface", "json")


@dataclass
class PredictionFolder:
    kind: str  # one of KINDS
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]
    """``{"<event>/<image stem>" (or "<stem>"): (boxes inclusive x1 y1 x2 y2 (K, 4), scores (K,))}``."""
    empty_boxes: int = 0
    """Boxes without pixels (x2 < x1 or y2 < y1 as inclusive extents)."""

    def by_stem(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Keyed by image stem alone (DARK FACE ids); two images with one stem are an error."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        owner: dict[str, str] = {}
        for key, value in self.predictions.items():
            stem = key.rsplit("/", 1)[-1]
            if stem in out:
                raise ValueError(f"predictions for {owner[stem]} and {key} share the image id {stem!r}")
            out[stem], owner[stem] = value, key
        return out


def _empty(boxes: np.ndarray) -> int:
    return int(((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).sum())


def _kind_of_text(path: Path) -> str:
    lines = [line for line in read_lines(path, "prediction file")[:2]]
    if len(lines) == 2 and len(lines[0].split()) == 1 and len(lines[1].split()) == 1:
        return "wider"
    if len(lines) == 1 and len(lines[0].split()) == 1:
        return "wider"  # a name with no count line: read as WIDER FACE, which names what is missing
    return "darkface"


def _read_json(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data = read_json_file(path, "detections file")
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise FormatError(path, None, "expected srn detect's detections.json (an object with an 'images' list)")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for i, record in enumerate(images):
        name = record.get("file") if isinstance(record, dict) else None
        rows = record.get("boxes") if isinstance(record, dict) else None
        if not isinstance(name, str) or not isinstance(rows, list):
            raise FormatError(path, None, f"images[{i}]: expected an object with 'file' and 'boxes'")
        ok = all(isinstance(r, list) and len(r) == 5 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= MAX_COORDINATE
            for v in r) for r in rows)
        if not ok:
            raise FormatError(path, None, f"images[{i}].boxes: expected [x1, y1, x2, y2, score] numbers")
        data5 = np.array(rows, dtype=np.float64).reshape(-1, 5)
        key = Path(name).with_suffix("").as_posix()
        if key in out:
            raise FormatError(path, None, f"images[{i}].file: {name!r} appears twice")
        out[key] = (data5[:, :4].copy(), data5[:, 4].copy())
    return out


def read_prediction_folder(folder: str | os.PathLike[str], allow_empty: bool = True) -> PredictionFolder:
    """Read ``folder`` as ``srn detect`` wrote it (see the module docstring); ``FormatError`` on bad
    input, ``FileNotFoundError`` for a missing folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (predictions expected)")
    texts = sorted(p for p in folder.rglob("*.txt") if p.is_file() and not p.name.startswith("."))
    json_file = folder / DETECTIONS_JSON
    if json_file.is_file() and not texts:
        preds = _read_json(json_file)
        empty = sum(_empty(b) for b, _ in preds.values())
        if empty and not allow_empty:
            raise FormatError(json_file, None, f"{empty} boxes without pixels (x2 < x1 or y2 < y1)")
        return PredictionFolder("json", preds, empty)
    if not texts:
        return PredictionFolder("darkface", {})
    kind = _kind_of_text(next((p for p in texts if p.stat().st_size), texts[0]))
    preds = {}
    for file in texts:
        key = file.relative_to(folder).with_suffix("").as_posix()
        if kind == "wider":
            preds[key] = wider.read_prediction(file, allow_empty=allow_empty)
        else:
            preds[key] = darkface.read_submission(file, allow_empty=allow_empty)
    return PredictionFolder(kind, preds, sum(_empty(b) for b, _ in preds.values()))


__all__ = ["DETECTIONS_JSON", "KINDS", "PredictionFolder", "read_prediction_folder"]
