"""The experiment table, the product's headline result, filled from stored evaluations.

DARK FACE's rows: (A) the base model on raw night images, (B) the same model on enhanced images,
(C) the model fine-tuned on enhanced images, tested on enhanced images, and (D) a model
fine-tuned on raw images, tested on raw images: later work found that once a detector is
fine-tuned on night images an enhancer in front of it can stop helping, so C against D says
whether this project's enhancement still earns its place.

``experiment_table`` fills each cell from the newest held-out evaluation and says which cells are
missing. A cell whose evaluation was scored on another held-out set (review went on: more
``val`` images done, boxes edited) or, for enhanced rows, with other enhancement settings is
stale: missing, with the reason, so "Compute missing" scores it again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from app.store.detections import ModelVersionData, model_versions
from app.store.evaluations import EvaluationData, canonical_settings, evaluations
from app.store.labelled_sets import HELDOUT, heldout_fingerprint
from app.store.project import Project
from app.store.training import training_runs

EXPERIMENT_ROWS = (
    ("base_raw", "base model on raw images", "base", False),
    ("base_enhanced", "base model on enhanced images", "base", True),
    ("finetuned_enhanced", "fine-tuned model on enhanced images", "finetuned", True),
    ("finetuned_raw", "fine-tuned on raw images, tested on raw", "finetuned_raw", False),
)
NO_RAW_FINE_TUNE = "no model fine-tuned on raw images yet (fine-tune without \"Train on enhanced images\")"


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


@dataclass(frozen=True)
class ExperimentModels:
    """The model versions the table's rows need (``None``: there is none yet)."""

    base: ModelVersionData | None
    finetuned: ModelVersionData | None
    """Fine-tuned on enhanced images (or not known how: models from before runs recorded it)."""
    finetuned_raw: ModelVersionData | None
    """Fine-tuned on raw images: its training run's settings say ``"enhance": None``."""


def raw_trained_models(project: Project) -> set[int]:
    """Ids of the model versions whose training run says it trained on raw images."""
    out = set()
    for run in training_runs(project):
        settings = run.config.get("settings")
        if run.model_version_id is not None and isinstance(settings, dict) and "enhance" in settings \
                and settings["enhance"] is None:
            out.add(run.model_version_id)
    return out


def experiment_models(project: Project) -> ExperimentModels:
    """The base and the fine-tuned model versions of the experiment table.

    The base is the root (a model with no parent) of the lineage of the newest model version that
    has a parent; the fine-tuned models are that root's newest descendants trained on enhanced
    images (row C) and on raw images (row D). With no fine-tuned model yet, the base is the oldest
    model version.
    """
    models = {m.id: m for m in model_versions(project)}
    if not models:
        return ExperimentModels(None, None, None)
    tuned = [m for m in models.values() if m.parent_id in models]
    if not tuned:
        return ExperimentModels(min(models.values(), key=lambda m: (m.created_at, m.id)), None, None)
    base = models[_root(models, _newest(tuned).id)]
    raw = raw_trained_models(project)
    lineage = _descendants(models, base.id)
    enhanced = [m for m in lineage if m.id not in raw]
    on_raw = [m for m in lineage if m.id in raw]
    return ExperimentModels(base, _newest(enhanced) if enhanced else None, _newest(on_raw) if on_raw else None)


STALE_HELDOUT = "held-out set changed since it was scored"
STALE_UNKNOWN_HELDOUT = "not known which held-out set it was scored on"
STALE_SETTINGS = "scored with other enhancement settings"


def _stale_reason(e: EvaluationData, fingerprint: str, settings) -> str:
    if e.dataset_fingerprint is None:
        return STALE_UNKNOWN_HELDOUT
    if e.dataset_fingerprint != fingerprint:
        return STALE_HELDOUT
    if e.enhanced and settings is not None and canonical_settings(e.enhance_settings) != settings:
        return STALE_SETTINGS
    return ""


def experiment_table(project: Project, enhance_settings: dict | None = None) -> list[ExperimentRow]:
    """The four rows of the experiment table from the newest held-out evaluation of each cell.

    The newest evaluation of a cell is stale, and the cell missing with the reason, when it was
    scored on another held-out set than the one now (``heldout_fingerprint``: images marked done
    in the ``val`` split or taken out of it, ground-truth boxes edited) or, when
    ``enhance_settings`` (the enhancement the view evaluates with, a dict as ``record_evaluation``
    stores it or parameters with ``to_dict()``) is given, for an enhanced row, with other settings.
    The cell shows the newest evaluation that still counts: an older one scored on exactly the
    current held-out set with the current settings (e.g. after the settings went back) needs no
    recomputing. When none counts, the reason is the newest evaluation's.
    """
    chosen = experiment_models(project)
    held = evaluations(project, dataset=HELDOUT)
    fingerprint = heldout_fingerprint(project) if held else ""
    settings = canonical_settings(enhance_settings)
    rows = []
    for key, label, which, enhanced in EXPERIMENT_ROWS:
        model = getattr(chosen, which)
        if model is None:
            reason = {"base": "no model version yet", "finetuned": "no fine-tuned model yet",
                      "finetuned_raw": NO_RAW_FINE_TUNE}[which]
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
