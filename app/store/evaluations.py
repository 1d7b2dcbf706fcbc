"""Stored evaluations of model versions, the held-out ground truth, and the experiment table.

An evaluation is AP@0.5 (``srn.eval.evaluate_ap50``) of one model version on one labelled set,
raw or enhanced, with its PR curve (at most ``MAX_CURVE_POINTS`` points, so a row stays small)
and its mistakes, so the Evaluation view and the experiment table come from the store instead of
re-running the detector whenever they open.

Datasets are string keys: ``"heldout"`` is the project's ``val`` split (reviewed images only, see
``heldout_ground_truth``); ``"labels:<parent>/<name>#<hash>"`` an imported label file or folder
(``labels_dataset``: every DARK FACE label folder is called ``label``, so the key carries a hash
of the resolved path).

Each evaluation stores the fingerprint of the ground truth it was scored against
(``dataset_fingerprint``, sha256 hex): for the held-out set, of its images and their
ground-truth boxes (``ground_truth_fingerprint``); for an imported label set, of the label files'
contents (``label_files_fingerprint``).

The experiment table is the product's headline result (DARK FACE: base model on raw night images,
the same model on MSRCR images, the model fine-tuned on MSRCR images): ``experiment_table``
fills it from the newest held-out evaluation of each cell and says which cells are missing. A
cell whose evaluation was scored on another held-out set (review went on: more ``val`` images
done, boxes edited) or, for enhanced rows, with other enhancement settings is stale: missing,
with the reason, so "Compute missing" scores it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.store.database import chunks
from app.store.detections import ModelVersionData, model_versions
from app.store.errors import NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import Box, Evaluation, Image, ModelVersion
from app.store.training import VAL

HELDOUT = "heldout"
HELDOUT_SPLIT = VAL
"""The ``Image.split`` value of the held-out images."""
LABELS_PREFIX = "labels:"
MAX_CURVE_POINTS = 200
GROUND_TRUTH_STATES = ("accepted",)
"""Box states that are ground truth: accepted boxes of any source (human, imported, accepted model)."""


_KEY_HASH_CHARS = 10
_KEY_PART_CHARS = 120
"""The readable parts of a label-set key are cut to this many characters (the column holds 300)."""
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def labels_dataset(path: str | Path) -> str:
    """The dataset key of an imported label file or folder: ``"labels:<parent>/<name>#<hash>"``.

    ``<hash>`` is the start of the sha256 of the resolved path, so two DARK FACE ``label`` folders
    (or two ``wider_face_val_bbx_gt.txt`` files) are different datasets; ``<parent>/<name>`` keeps
    the key readable (``dataset_title``). The same set under another spelling of its path
    (relative, ``..``, a symbolic link) gets the same key.
    """
    resolved = Path(path).expanduser().resolve()
    name = resolved.name
    if not name:
        raise StoreError(f"{path}: a label file or folder has no name to key the dataset by")
    digest = hashlib.sha256(os.path.normcase(str(resolved)).encode("utf-8", "surrogateescape")).hexdigest()
    parent = resolved.parent.name[:_KEY_PART_CHARS]
    return f"{LABELS_PREFIX}{parent}/{name[:_KEY_PART_CHARS]}#{digest[:_KEY_HASH_CHARS]}"


def _check_dataset(dataset: str) -> None:
    if dataset == HELDOUT or (dataset.startswith(LABELS_PREFIX) and len(dataset) > len(LABELS_PREFIX)):
        return
    raise StoreError(f"dataset must be {HELDOUT!r} or a label set's key (labels_dataset), got {dataset!r}")


def dataset_title(dataset: str) -> str:
    """How the view names a dataset key: ``"label (…/night_test) #1a2b3c"`` for a label set."""
    if dataset == HELDOUT:
        return f"held-out set ({HELDOUT_SPLIT} split)"
    if not dataset.startswith(LABELS_PREFIX):
        return dataset
    rest = dataset[len(LABELS_PREFIX):]
    where, sep, digest = rest.rpartition("#")
    if not sep or "/" not in where or not re.fullmatch(r"[0-9a-f]+", digest):
        return rest  # an older key: "labels:<file name>"
    parent, name = where.split("/", 1)
    return f"{name} (…/{parent}) #{digest[:6]}" if parent else f"{name} #{digest[:6]}"


# -- fingerprints of the ground truth ----------------------------------------------------------

def _box_key(x1, y1, x2, y2, ignore) -> str:
    return f"{float(x1)!r},{float(y1)!r},{float(x2)!r},{float(y2)!r},{int(bool(ignore))}"


def _fingerprint_of(per_image: dict[int, list[str]]) -> str:
    h = hashlib.sha256()
    for image_id in sorted(per_image):
        h.update(f"{image_id}:{';'.join(sorted(per_image[image_id]))}\n".encode())
    return h.hexdigest()


def ground_truth_fingerprint(images) -> str:
    """sha256 hex of held-out ground truth (``GroundTruthImage``s with image ids): the sorted image
    ids, each with its boxes' ``x1 y1 x2 y2`` and ignore flag (box order and box ids do not count).

    Equal to ``heldout_fingerprint(project)`` for ``heldout_ground_truth(project)``.
    """
    per: dict[int, list[str]] = {}
    for g in images:
        if g.image_id is None:
            raise StoreError(f"{g.path}: a held-out image needs its image id to be fingerprinted")
        boxes = np.asarray(g.boxes, dtype=np.float64).reshape(-1, 4)
        per[int(g.image_id)] = [_box_key(*b, not k) for b, k in zip(boxes.tolist(), np.asarray(g.keep).tolist())]
    return _fingerprint_of(per)


def heldout_fingerprint(project: Project) -> str:
    """The fingerprint (``ground_truth_fingerprint``) of the held-out set as it is now: one query."""
    with project.read() as s:
        rows = s.execute(select(Image.id, Box.x1, Box.y1, Box.x2, Box.y2, Box.ignore)
                         .select_from(Image)
                         .outerjoin(Box, (Box.image_id == Image.id) & Box.state.in_(GROUND_TRUTH_STATES))
                         .where(Image.split == HELDOUT_SPLIT, Image.status == "done")).all()
    per: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        boxes = per[r[0]]  # an image without faces still counts (every detection on it is wrong)
        if r.x1 is not None:
            boxes.append(_box_key(r.x1, r.y1, r.x2, r.y2, r.ignore))
    return _fingerprint_of(per)


def label_files_fingerprint(path: str | Path) -> str:
    """sha256 hex of an imported label set's files: a WIDER FACE ground-truth file's bytes, or the
    name and bytes of every ``*.txt`` label of a DARK FACE folder (hidden files left out, as
    ``srn.formats.darkface`` does), sorted by name. The content, not the modification time: a
    copied or touched set keeps its fingerprint, an edited one does not."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        files = sorted((p for p in path.glob("*.txt") if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: p.name)
        for p in files:
            h.update(p.name.encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def _canonical_settings(settings) -> object:
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
    """sha256 hex of the ground truth scored (module docstring); None when unknown."""

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
    _check_dataset(dataset)
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
    roots = dict(project.roots())
    wanted: dict[tuple[int, str], Path] = {}
    for path in paths:
        try:
            wanted[project.locate(path, roots)] = Path(path)
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
            for chunk in chunks(rels):
                for r in s.execute(select(Image.id, Image.rel_path).where(
                        Image.root_id == root_id, Image.rel_path.in_(chunk))):
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
    """Why the cell is missing (no such model yet, not evaluated yet, stale); empty when it is filled."""
    stale: EvaluationData | None = None
    """The cell's newest evaluation when it no longer counts (other held-out set or settings)."""

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


STALE_HELDOUT = "held-out set changed since it was scored"
STALE_UNKNOWN_HELDOUT = "not known which held-out set it was scored on"
STALE_SETTINGS = "scored with other enhancement settings"


def _stale_reason(e: EvaluationData, fingerprint: str, settings) -> str:
    if e.dataset_fingerprint is None:
        return STALE_UNKNOWN_HELDOUT
    if e.dataset_fingerprint != fingerprint:
        return STALE_HELDOUT
    if e.enhanced and settings is not None and _canonical_settings(e.enhance_settings) != settings:
        return STALE_SETTINGS
    return ""


def experiment_table(project: Project, enhance_settings: dict | None = None) -> list[ExperimentRow]:
    """The three rows of the experiment table from the newest held-out evaluation of each cell.

    The newest evaluation of a cell is stale, and the cell missing with the reason, when it was
    scored on another held-out set than the one now (``heldout_fingerprint``: images marked done
    in the ``val`` split or taken out of it, ground-truth boxes edited) or, when
    ``enhance_settings`` (the enhancement the view evaluates with, a dict as ``record_evaluation``
    stores it or parameters with ``to_dict()``) is given, for an enhanced row, with other settings.
    The cell shows the newest evaluation that still counts: an older one scored on exactly the
    current held-out set with the current settings (e.g. after the settings went back) needs no
    recomputing. When none counts, the reason is the newest evaluation's.
    """
    base, tuned = experiment_models(project)
    held = evaluations(project, dataset=HELDOUT)
    fingerprint = heldout_fingerprint(project) if held else ""
    settings = _canonical_settings(enhance_settings)
    rows = []
    for key, label, which, enhanced in EXPERIMENT_ROWS:
        model = base if which == "base" else tuned
        if model is None:
            reason = "no model version yet" if which == "base" else "no fine-tuned model yet"
            rows.append(ExperimentRow(key, label, None, enhanced, None, reason))
            continue
        found = [e for e in held if e.model_version_id == model.id and e.enhanced == enhanced]
        if not found:
            rows.append(ExperimentRow(key, label, model, enhanced, None,
                                      f"{model.name} not evaluated on the held-out set "
                                      f"{'with' if enhanced else 'without'} enhancement yet"))
            continue
        current = next((e for e in reversed(found) if not _stale_reason(e, fingerprint, settings)), None)
        if current is not None:
            rows.append(ExperimentRow(key, label, model, enhanced, current))
        else:
            rows.append(ExperimentRow(key, label, model, enhanced, None,
                                      _stale_reason(found[-1], fingerprint, settings), stale=found[-1]))
    return rows
