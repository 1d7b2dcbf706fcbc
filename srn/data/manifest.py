"""Training manifests: JSON lines, one ``TrainSample`` per line.

This is what the app exports for a training job (written atomically, so a job never reads a
half-written edit). A line is an object::

    {"image_path": "imgs/12.png", "boxes": [[x1, y1, x2, y2], ...], "ignore": [false, ...],
     "weights": [1.0, ...], "hard_negatives": [[x1, y1, x2, y2], ...], "fully_labelled": true,
     "enhance": {"method": "msrcr", ...}}

Only ``image_path`` and ``boxes`` are required; boxes are inclusive pixel extents (see
``srn.data.samples``). A relative ``image_path`` is relative to the manifest's folder. Blank
lines are skipped; anything else that is not such an object — bad JSON, unknown keys, wrong
shapes, inverted boxes — is a ``ManifestError`` naming ``file:line``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from srn.data.samples import TrainSample
from srn.fileio import atomic_write_text

KEYS = {"image_path", "boxes", "ignore", "weights", "hard_negatives", "fully_labelled", "enhance"}


class ManifestError(ValueError):
    """A malformed manifest line; the message starts with ``file:line:``."""


def _parse_line(text: str, base: Path, where: str) -> TrainSample:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ManifestError(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key in ("image_path", "boxes"):
        if key not in data:
            raise ManifestError(f"{where}: missing {key!r}")
    if not isinstance(data["image_path"], str) or not data["image_path"]:
        raise ManifestError(f"{where}: image_path must be a non-empty string")
    for key in ("boxes", "hard_negatives", "ignore", "weights"):
        if key in data and data[key] is not None and not isinstance(data[key], list):
            raise ManifestError(f"{where}: {key} must be a list")
    if "ignore" in data and data["ignore"] is not None and not all(isinstance(v, bool) for v in data["ignore"]):
        raise ManifestError(f"{where}: ignore must be a list of true/false")
    if "fully_labelled" in data and not isinstance(data["fully_labelled"], bool):
        raise ManifestError(f"{where}: fully_labelled must be true or false")
    enhance = data.get("enhance")
    if enhance is not None:
        from srn.enhance import ParamError, params_from_dict

        if not isinstance(enhance, dict):
            raise ManifestError(f"{where}: enhance must be an object of srn.enhance parameters")
        try:
            enhance = params_from_dict(enhance)
        except (ParamError, TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: enhance: {exc}") from None
    path = Path(data["image_path"])
    try:
        return TrainSample(path if path.is_absolute() else base / path, data["boxes"], ignore=data.get("ignore"),
                           weights=data.get("weights"), hard_negatives=data.get("hard_negatives"),
                           fully_labelled=data.get("fully_labelled", True), enhance=enhance)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{where}: {exc}") from None


def read_manifest(path: str | os.PathLike[str]) -> list[TrainSample]:
    """Every sample of a manifest, strictly (module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest file") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason})") from None
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            samples.append(_parse_line(line, path.parent, f"{path}:{number}"))
    return samples


def sample_to_dict(sample: TrainSample, relative_to: Path | None = None) -> dict:
    """The manifest object of a sample (``image_path`` relative to ``relative_to`` when inside it)."""
    image = Path(sample.image_path)
    if relative_to is not None:
        try:
            image = image.resolve().relative_to(relative_to.resolve())
        except ValueError:
            pass
    assert sample.ignore is not None and sample.weights is not None  # set by TrainSample.__post_init__
    out = {
        "image_path": image.as_posix(),
        "boxes": np.asarray(sample.boxes, dtype=np.float64).tolist(),
        "ignore": [bool(v) for v in sample.ignore],
        "weights": [float(v) for v in sample.weights],
        "hard_negatives": np.asarray(sample.hard_negatives, dtype=np.float64).tolist(),
        "fully_labelled": bool(sample.fully_labelled),
    }
    if sample.enhance is not None:
        out["enhance"] = sample.enhance.to_dict()
    return out


def write_manifest(path: str | os.PathLike[str], samples: Iterable[TrainSample], *, relative: bool = True) -> Path:
    """Write samples as a manifest, atomically. ``relative``: image paths inside the manifest's
    folder are stored relative to it (the folder can then be moved as a whole)."""
    path = Path(path)
    base = path.parent if relative else None
    lines = [json.dumps(sample_to_dict(s, base), separators=(",", ":")) for s in samples]
    return atomic_write_text(path, "".join(line + "\n" for line in lines))
