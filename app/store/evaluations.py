"""Stored evaluations of model versions, the held-out ground truth, and the experiment table.

An evaluation is AP@0.5 (``srn.eval.evaluate_ap50``) of one model version on one labelled set,
raw or enhanced, with its PR curve (at most ``MAX_CURVE_POINTS`` points, so a row stays small)
and its mistakes, so the Evaluation view and the experiment table come from the store instead of
re-running the detector whenever they open.

Datasets are string keys: ``"heldout"`` is the project's ``val`` split (reviewed images only, see
``heldout_ground_truth``); ``"labels:<file name>"`` an imported label file or folder.

The experiment table is the product's headline result (DARK FACE: base model on raw night images,
the same model on MSRCR images, the model fine-tuned on MSRCR images): ``experiment_table``
fills it from the newest held-out evaluation of each cell and says which cells are missing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.store.detections import ModelVersionData, model_versions
from app.store.errors import NotFoundError, StoreError
from app.store.models import Box, Evaluation, Image, ModelVersion
from app.store.project import Project

HELDOUT = "heldout"
HELDOUT_SPLIT = "val"
"""The ``Image.split`` value of the held-out images."""
LABELS_PREFIX = "labels:"
MAX_CURVE_POINTS = 200
GROUND_TRUTH_STATES = ("accepted",)
"""Box states that are ground truth: accepted boxes of any source (human, imported, accepted model)."""


def labels_dataset(path: str | Path) -> str:
    """The dataset key of an imported label file or folder: ``"labels:<file name>"``."""
    name = Path(path).name
    if not name:
        raise StoreError(f"{path}: a label file or folder has no name to key the dataset by")
    return LABELS_PREFIX + name


def _check_dataset(dataset: str) -> None:
    if dataset == HELDOUT or (dataset.startswith(LABELS_PREFIX) and len(dataset) > len(LABELS_PREFIX)):
        return
    raise StoreError(f"dataset must be {HELDOUT!r} or 'labels:<file name>', got {dataset!r}")


def dataset_title(dataset: str) -> str:
    """How the view names a dataset key."""
    if dataset == HELDOUT:
        return f"held-out set ({HELDOUT_SPLIT} split)"
    return dataset[len(LABELS_PREFIX):] if dataset.startswith(LABELS_PREFIX) else dataset


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
                      enhance_settings: dict | None = None, errors: dict | None = None) -> EvaluationData:
    """Store one evaluation (one transaction); the curve is cut to ``MAX_CURVE_POINTS`` points.

    ``errors``: ``{"threshold": t, "false_positives": [...], "missed": [...], "skipped": [...]}``,
    each entry ``{"image_id", "path", "box": [x1, y1, x2, y2], "score"}`` (skipped: ``image_id``,
    ``path``, ``message``).
    """
    _check_dataset(dataset)
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
                         curve=curve, errors=stored_errors)
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


def get_evaluation(project: Project, evaluation_id: int) -> EvaluationData:
    with project.read() as s:
        row = s.get(Evaluation, evaluation_id)
        if row is None:
            raise NotFoundError(f"no evaluation with id {evaluation_id}")
        return EvaluationData.from_row(row)


# -- the held-out ground truth -----------------------------------------------------------------

@dataclass
class GroundTruthImage:
    """One labelled image: where it is, its faces (inclusive ``x1 y1 x2 y2``) and which count."""

    image_id: int | None
    path: Path
    boxes: np.ndarray
    keep: np.ndarray
    """False for ignored faces: a detection on them is neither right nor wrong."""
    name: str = ""


def heldout_ground_truth(project: Project) -> list[GroundTruthImage]:
    """The ``val`` images that a person finished reviewing (status ``done``) with their accepted
    boxes; ignored faces have ``keep = False``.

    Unreviewed images are left out: their faces are not known, so every detection on them would
    count as a false positive (the same rule as ``app.store.export``).
    """
    roots = dict(project.roots())
    with project.read() as s:
        images = s.execute(select(Image.id, Image.root_id, Image.rel_path)
                           .where(Image.split == HELDOUT_SPLIT, Image.status == "done")
                           .order_by(Image.root_id, Image.rel_path)).all()
        rows = s.execute(select(Box.image_id, Box.x1, Box.y1, Box.x2, Box.y2, Box.ignore)
                         .join(Image, Image.id == Box.image_id)
                         .where(Image.split == HELDOUT_SPLIT, Image.status == "done",
                                Box.state.in_(GROUND_TRUTH_STATES))
                         .order_by(Box.image_id, Box.id)).all()
    per: dict[int, list] = defaultdict(list)
    for r in rows:
        per[r.image_id].append((r.x1, r.y1, r.x2, r.y2, r.ignore))
    out = []
    for image in images:
        data = per.get(image.id, [])
        boxes = np.array([d[:4] for d in data], dtype=np.float64).reshape(-1, 4)
        keep = np.array([not d[4] for d in data], dtype=bool)
        root = roots.get(image.root_id)
        path = (root / image.rel_path) if root is not None else Path(image.rel_path)
        out.append(GroundTruthImage(image.id, path, boxes, keep, image.rel_path))
    return out


def image_ids_for_paths(project: Project, paths) -> dict[Path, int]:
    """``{path: image id}`` for the files that are images of the project (others are left out);
    lets errors of an imported labelled set open in the review window when the image is there."""
    wanted: dict[tuple[int, str], Path] = {}
    for path in paths:
        try:
            wanted[project.locate(path)] = Path(path)
        except StoreError:
            continue
    if not wanted:
        return {}
    out = {}
    by_root: dict[int, list[str]] = defaultdict(list)
    for root_id, rel in wanted:
        by_root[root_id].append(rel)
    with project.read() as s:
        for root_id, rels in by_root.items():
            for start in range(0, len(rels), 5000):
                for r in s.execute(select(Image.id, Image.rel_path).where(
                        Image.root_id == root_id, Image.rel_path.in_(rels[start:start + 5000]))):
                    out[wanted[(root_id, r.rel_path)]] = r.id
    return out


# -- the experiment table ----------------------------------------------------------------------

EXPERIMENT_ROWS = (
    ("base_raw", "base model on raw images", "base", False),
    ("base_enhanced", "base model on enhanced images", "base", True),
    ("finetuned_enhanced", "fine-tuned model on enhanced images", "finetuned", True),
)


@dataclass(frozen=True)
class ExperimentRow:
    """One cell of the experiment table: which model and input it needs, and its evaluation if any."""

    key: str
    label: str
    model: ModelVersionData | None
    enhanced: bool
    evaluation: EvaluationData | None
    reason: str = ""
    """Why the cell is missing (no such model yet, not evaluated yet); empty when it is filled."""

    @property
    def missing(self) -> bool:
        return self.evaluation is None

    @property
    def ap(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.ap

    @property
    def model_version_id(self) -> int | None:
        return None if self.model is None else self.model.id


def _descendants(models: dict[int, ModelVersionData], root_id: int) -> list[ModelVersionData]:
    children: dict[int, list[int]] = defaultdict(list)
    for m in models.values():
        if m.parent_id is not None and m.parent_id in models:
            children[m.parent_id].append(m.id)
    out, todo, seen = [], list(children[root_id]), {root_id}
    while todo:
        mid = todo.pop()
        if mid in seen:  # a cycle in hand-edited data must not hang the view
            continue
        seen.add(mid)
        out.append(models[mid])
        todo.extend(children[mid])
    return out


def _root(models: dict[int, ModelVersionData], model_id: int) -> int:
    seen = set()
    while models[model_id].parent_id in models and model_id not in seen:
        seen.add(model_id)
        model_id = models[model_id].parent_id
    return model_id


def _newest(items: list[ModelVersionData]) -> ModelVersionData:
    return max(items, key=lambda m: (m.created_at, m.id))


def experiment_models(project: Project) -> tuple[ModelVersionData | None, ModelVersionData | None]:
    """``(base, fine-tuned)`` model versions of the experiment table.

    The fine-tuned model is the newest model version that has a parent; the base is the root of
    its lineage (a model with no parent), and the fine-tuned model is that root's newest
    descendant. With no fine-tuned model yet, the base is the oldest model version.
    """
    models = {m.id: m for m in model_versions(project)}
    if not models:
        return None, None
    tuned = [m for m in models.values() if m.parent_id in models]
    if not tuned:
        return min(models.values(), key=lambda m: (m.created_at, m.id)), None
    base = models[_root(models, _newest(tuned).id)]
    return base, _newest(_descendants(models, base.id))


def experiment_table(project: Project) -> list[ExperimentRow]:
    """The three rows of the experiment table from the newest held-out evaluation of each cell."""
    base, tuned = experiment_models(project)
    held = evaluations(project, dataset=HELDOUT)
    rows = []
    for key, label, which, enhanced in EXPERIMENT_ROWS:
        model = base if which == "base" else tuned
        if model is None:
            reason = "no model version yet" if which == "base" else "no fine-tuned model yet"
            rows.append(ExperimentRow(key, label, None, enhanced, None, reason))
            continue
        found = [e for e in held if e.model_version_id == model.id and e.enhanced == enhanced]
        evaluation = found[-1] if found else None
        rows.append(ExperimentRow(key, label, model, enhanced, evaluation,
                                  "" if evaluation else f"{model.name} not evaluated on the held-out set "
                                  f"{'with' if enhanced else 'without'} enhancement yet"))
    return rows
