"""Stored evaluations of model versions: AP@0.5, the PR curve and the mistakes, per labelled set.

An evaluation is AP@0.5 (``srn.eval.evaluate_ap50``) of one model version on one labelled set
(``app.store.labelled_sets``: the held-out split or an imported label set), raw or enhanced, with
its PR curve (at most ``MAX_CURVE_POINTS`` points, so a row stays small) and its mistakes, so the
Evaluation view and the experiment table (``app.store.experiment_table``) come from the store
instead of re-running the detector whenever they open. Each keeps the fingerprint of the ground
truth it was scored against, so a later view can tell whether it still counts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select

from app.store.errors import NotFoundError, StoreError
from app.store.labelled_sets import check_dataset
from app.store.project import Project
from app.store.tables import Evaluation, ModelVersion

MAX_CURVE_POINTS = 200
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def canonical_settings(settings) -> object:
    """Enhancement settings in a comparable form (tuples and lists alike, as JSON stores them)."""
    if settings is not None and hasattr(settings, "to_dict"):
        settings = settings.to_dict()
    return None if settings is None else json.loads(json.dumps(settings, sort_keys=True))


# -- curves and JSON ---------------------------------------------------------------------------

def _clean(values) -> list[float | None]:
    """Floats for JSON: NaN and infinities (0/0 precision before the first counted box) become None."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel().tolist()]


def downsample_curve(precision, recall, thresholds=None, max_points: int = MAX_CURVE_POINTS) -> dict:
    """A PR curve cut to at most ``max_points`` evenly spaced points, first and last kept.

    A curve has one point per prediction (thousands); the plot and the store need a few hundred.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    p = np.asarray(precision, dtype=np.float64).ravel()
    r = np.asarray(recall, dtype=np.float64).ravel()
    t = np.full(len(p), np.nan) if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    if not (len(p) == len(r) == len(t)):
        raise StoreError(f"a PR curve needs as many precision ({len(p)}), recall ({len(r)}) and threshold "
                         f"({len(t)}) values")
    if len(p) > max_points:
        pick = np.unique(np.round(np.linspace(0, len(p) - 1, max_points)).astype(np.int64))
        p, r, t = p[pick], r[pick], t[pick]
    return {"precision": _clean(p), "recall": _clean(r), "thresholds": _clean(t)}


# -- evaluations -------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvaluationData:
    """An evaluation as read from the store."""

    id: int
    model_version_id: int
    dataset: str
    enhanced: bool
    enhance_settings: dict | None
    ap: float | None
    n_images: int
    n_faces: int
    curve: dict
    errors: dict
    created_at: datetime
    dataset_fingerprint: str | None
    """sha256 hex of the ground truth scored (``app.store.labelled_sets``); None when unknown."""

    @classmethod
    def from_row(cls, row: Evaluation) -> EvaluationData:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})

    def curve_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(recall, precision)`` as float arrays (None -> NaN), ready to plot."""
        def arr(key):
            return np.array([np.nan if v is None else v for v in self.curve.get(key, [])], dtype=np.float64)
        return arr("recall"), arr("precision")

    @property
    def false_positives(self) -> list[dict]:
        return list(self.errors.get("false_positives", []))

    @property
    def missed(self) -> list[dict]:
        return list(self.errors.get("missed", []))

    @property
    def skipped(self) -> list[dict]:
        return list(self.errors.get("skipped", []))


def _check_error_entries(kind: str, entries) -> list[dict]:
    out = []
    for i, e in enumerate(entries):
        box = [float(v) for v in e.get("box", ())]
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise StoreError(f"errors[{kind!r}][{i}]: a box needs four finite numbers, got {e.get('box')!r}")
        if e.get("image_id") is None and not e.get("path"):
            raise StoreError(f"errors[{kind!r}][{i}]: needs an image id or a path")
        score = e.get("score")
        out.append({"image_id": None if e.get("image_id") is None else int(e["image_id"]),
                    "path": None if e.get("path") is None else str(e["path"]), "box": box,
                    "score": None if score is None or not math.isfinite(score) else float(score)})
    return out


def record_evaluation(project: Project, model_version_id: int, dataset: str, *, ap: float | None, n_images: int,
                      n_faces: int, precision=(), recall=(), thresholds=None, enhanced: bool = False,
                      enhance_settings: dict | None = None, errors: dict | None = None,
                      dataset_fingerprint: str | None = None) -> EvaluationData:
    """Store one evaluation (one transaction); the curve is cut to ``MAX_CURVE_POINTS`` points.

    ``dataset_fingerprint``: sha256 hex of the ground truth that was scored
    (``ground_truth_fingerprint`` of the held-out images read, ``label_files_fingerprint`` of a
    label set); the experiment table counts a held-out evaluation without it, or with another one
    than the held-out set's now, as stale.

    ``errors``: ``{"threshold": t, "false_positives": [...], "missed": [...], "skipped": [...]}``,
    each entry ``{"image_id", "path", "box": [x1, y1, x2, y2], "score"}`` (skipped: ``image_id``,
    ``path``, ``message``).
    """
    check_dataset(dataset)
    if dataset_fingerprint is not None and not _FINGERPRINT.fullmatch(dataset_fingerprint):
        raise StoreError(f"dataset_fingerprint must be 64 lowercase hex digits (sha256), got {dataset_fingerprint!r}")
    if ap is not None and not math.isfinite(ap):
        ap = None  # no faces to score: AP is undefined (srn.eval gives NaN)
    if n_images < 0 or n_faces < 0:
        raise StoreError(f"n_images and n_faces cannot be negative (got {n_images}, {n_faces})")
    curve = downsample_curve(precision, recall, thresholds)
    errors = dict(errors or {})
    stored_errors = {
        "threshold": None if errors.get("threshold") is None or not math.isfinite(errors["threshold"])
        else float(errors["threshold"]),
        "false_positives": _check_error_entries("false_positives", errors.get("false_positives", [])),
        "missed": _check_error_entries("missed", errors.get("missed", [])),
        # the lists may be capped; the counts are the totals
        "n_false_positives": int(errors.get("n_false_positives", len(errors.get("false_positives", [])))),
        "n_missed": int(errors.get("n_missed", len(errors.get("missed", [])))),
        "skipped": [{"image_id": s.get("image_id"), "path": None if s.get("path") is None else str(s["path"]),
                     "message": str(s.get("message", ""))} for s in errors.get("skipped", [])],
    }
    with project.write() as s:
        if s.get(ModelVersion, model_version_id) is None:
            raise NotFoundError(f"no model version with id {model_version_id}")
        row = Evaluation(model_version_id=model_version_id, dataset=dataset, enhanced=bool(enhanced),
                         enhance_settings=enhance_settings if enhanced else None,
                         ap=None if ap is None else float(ap), n_images=int(n_images), n_faces=int(n_faces),
                         curve=curve, errors=stored_errors, dataset_fingerprint=dataset_fingerprint)
        s.add(row)
        s.flush()
        return EvaluationData.from_row(row)


def evaluations(project: Project, model_version_id: int | None = None, dataset: str | None = None
                ) -> list[EvaluationData]:
    """Stored evaluations, oldest first, optionally of one model version and/or one dataset."""
    query = select(Evaluation).order_by(Evaluation.id)
    if model_version_id is not None:
        query = query.where(Evaluation.model_version_id == model_version_id)
    if dataset is not None:
        query = query.where(Evaluation.dataset == dataset)
    with project.read() as s:
        return [EvaluationData.from_row(e) for e in s.scalars(query)]
