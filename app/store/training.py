"""Training runs in the store: the fixed held-out split, run records and the models they make.

The held-out (validation) set must stay the same from one fine-tuning run to the next, or the
metrics of two model versions would not be comparable. ``ensure_validation_split`` therefore
gives a split only to labelled images that have none yet, by a stable hash of the image's path
(not by random order, which would change as images are added), and never moves an image that
already has one. A run is a ``TrainingRun`` row (queued → running → finished / failed /
cancelled); ``finish_training_run`` registers the new model version with its lineage and marks
the run finished in one transaction, so a model never exists without its finished run.

Every function is one committed transaction. Extra run information (the exported data summary,
paths, device) lives in the run's ``config`` and ``metrics`` JSON.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, exists, func, or_, select, update

from app.store.boxes import BOX_COLUMNS, BoxData
from app.store.database import chunks
from app.store.detections import ModelVersionData, _checkpoint_digest, _insert_model_version, _refuse_taken_name
from app.store.errors import NotFoundError, StoreError
from app.store.project import Project, Roots, root_paths
from app.store.tables import (
    RUN_STATUSES,
    Box,
    Edit,
    Image,
    ModelVersion,
    TrainingRun,
    utcnow,
)

TRAIN, VAL = "train", "val"
ENDED = ("finished", "failed", "cancelled")


def labelled_condition():
    """SQL condition on ``Image``: a person has reviewed its labels.

    An image counts when it has an accepted box of any source (human and imported boxes are
    accepted when they exist; accepted model/pseudo boxes were confirmed by a person) or its
    review status is ``done`` (a done image without boxes is a known face-free image).
    """
    reviewed_box = exists().where(Box.image_id == Image.id, Box.state == "accepted")
    return or_(Image.status == "done", reviewed_box)


class LabelledImage(NamedTuple):
    id: int
    root_id: int
    rel_path: str
    split: str | None
    status: str
    labelled: bool
    """``labelled_condition``: a person has reviewed its labels."""


@dataclass
class LabelsSnapshot:
    """Every image (root, path order) and its boxes that are not deleted, read in one transaction:
    what a training export is made of (``app.jobs.training_export``)."""

    roots: Roots
    images: list[LabelledImage]
    boxes: dict[int, list[BoxData]] = field(default_factory=dict)


def labels_snapshot(project: Project) -> LabelsSnapshot:
    with project.read() as s:  # one transaction: one consistent snapshot of the labels
        roots = root_paths(s)
        images = [LabelledImage(*r) for r in s.execute(
            select(Image.id, Image.root_id, Image.rel_path, Image.split, Image.status,
                   labelled_condition().label("labelled")).order_by(Image.root_id, Image.rel_path, Image.id))]
        rows = s.execute(select(*BOX_COLUMNS).where(Box.state != "deleted").order_by(Box.image_id, Box.id))
        boxes: dict[int, list[BoxData]] = defaultdict(list)
        for r in rows:
            box = BoxData(*r)
            boxes[box.image_id].append(box)
    return LabelsSnapshot(roots, images, dict(boxes))


def split_hash(rel_path: str, seed: int = 0) -> float:
    """A number in [0, 1) fixed by the image's relative path and ``seed`` (sha256 based)."""
    digest = hashlib.sha256(f"{int(seed)}:{rel_path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class SplitReport:
    train: int
    """Labelled images in the train split (all of them, not only the new ones)."""
    val: int
    """Labelled images in the held-out split."""
    new_train: int
    new_val: int


def ensure_validation_split(project: Project, fraction: float = 0.2, seed: int = 0,
                            author: str | None = None) -> SplitReport:
    """Give every labelled image without a split ``'val'`` (about ``fraction`` of them) or ``'train'``.

    Every labelled image gets its split the first time a run starts after it was labelled, done
    or still in review: an image trained on once must never become held out later (its held-out
    score would be inflated), so the split cannot wait until the image is finished. A ``'val'``
    image still in review is neither trained on nor scored (``app.jobs.training_export``); it is
    scored once it is done. Images that already have a split keep it. ``'val'`` goes to images
    whose ``split_hash`` is below ``fraction``. So that a small project still has an evaluable
    held-out set: when no finished (``done``) image would be ``'val'`` and a finished image is
    given ``'train'`` now, the finished one with the smallest hash goes to ``'val'`` instead
    (still a function of the paths alone); and when at least two images get a split now and no
    labelled image would be ``'train'``, one goes to ``'train'``. The assignment is logged as one
    ``Edit`` (entity ``training``, not undoable: undoing a split would change the held-out set
    behind the metrics).
    """
    if not 0 <= fraction < 1:
        raise StoreError(f"validation fraction must be in [0, 1), got {fraction!r}")
    author = author or project.author
    labelled = labelled_condition()
    with project.write() as s:
        todo = s.execute(select(Image.id, Image.rel_path, Image.status).where(Image.split.is_(None), labelled)
                         .order_by(Image.id)).all()
        ranked = sorted((split_hash(rel, seed), image_id, status == "done") for image_id, rel, status in todo)
        val = [r for r in ranked if r[0] < fraction]
        train = [r for r in ranked if r[0] >= fraction]
        has_train = s.scalar(select(Image.id).where(Image.split == TRAIN, labelled).limit(1)) is not None
        if len(ranked) >= 2 and not has_train and not train:  # rather an image still in review
            train.append(val.pop(max((k for k, r in enumerate(val) if not r[2]), default=len(val) - 1)))
        if fraction > 0 and not any(done for _, _, done in val):
            has_done_val = s.scalar(select(Image.id).where(Image.split == VAL, Image.status == "done")
                                    .limit(1)) is not None
            first_done = next((k for k, r in enumerate(train) if r[2]), None)  # the smallest hash
            if not has_done_val and first_done is not None and (has_train or len(train) >= 2):
                val.append(train.pop(first_done))
        val_ids, train_ids = [r[1] for r in val], [r[1] for r in train]
        stamp = utcnow()
        for name, ids in ((VAL, val_ids), (TRAIN, train_ids)):
            for chunk in chunks(ids):
                s.execute(update(Image).where(Image.id.in_(chunk))
                          .values(split=name, updated_at=stamp).execution_options(synchronize_session=False))
        if val_ids or train_ids:
            s.add(Edit(author=author, action="assign_split", entity="training", entity_id=None, before=None,
                       after={"val": sorted(val_ids), "train": sorted(train_ids), "fraction": fraction,
                              "seed": seed}))
        counts = {name: s.scalar(select(func.count(Image.id)).where(Image.split == name, labelled))
                  for name in (TRAIN, VAL)}
    return SplitReport(train=counts[TRAIN], val=counts[VAL], new_train=len(train_ids), new_val=len(val_ids))


def split_counts(project: Project) -> dict[str | None, int]:
    """Labelled images per split (``None`` for those without one yet: the next run splits them),
    e.g. for the dialog; ``held_out_in_review_count`` says how many ``'val'`` ones are not done."""
    with project.read() as s:
        rows = s.execute(select(Image.split, func.count(Image.id)).where(labelled_condition())
                         .group_by(Image.split)).all()
    return {split: n for split, n in rows}


def held_out_in_review_count(project: Project) -> int:
    """Labelled held-out (``'val'``) images still in review: neither trained on nor scored until done."""
    with project.read() as s:
        return s.scalar(select(func.count(Image.id)).where(
            labelled_condition(), Image.split == VAL, Image.status != "done"))


def unreviewed_count(project: Project) -> int:
    """Images pseudo-labels could come from: not labelled, not skipped, not held out."""
    with project.read() as s:
        return s.scalar(select(func.count(Image.id)).where(
            ~labelled_condition(), Image.status != "skipped",
            or_(Image.split.is_(None), Image.split == TRAIN)))


# -- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRunData:
    id: int
    status: str
    config: dict
    metrics: dict
    started_at: datetime | None
    finished_at: datetime | None
    log_path: str | None
    model_version_id: int | None = None
    """The model version this run produced (finished runs)."""

    @property
    def ended(self) -> bool:
        return self.status in ENDED


def _data(row: TrainingRun, model_id: int | None) -> TrainingRunData:
    return TrainingRunData(id=row.id, status=row.status, config=dict(row.config or {}),
                           metrics=dict(row.metrics or {}), started_at=row.started_at,
                           finished_at=row.finished_at, log_path=row.log_path, model_version_id=model_id)


def start_training_run(project: Project, config: dict, *, status: str = "queued",
                       log_path: str | os.PathLike[str] | None = None) -> int:
    """Record a new run with its settings (JSON-ready ``config``); returns its id."""
    _check_status(status)
    with project.write() as s:
        row = TrainingRun(config=dict(config), status=status, metrics={},
                          log_path=str(log_path) if log_path is not None else None,
                          started_at=utcnow() if status == "running" else None)
        s.add(row)
        s.flush()
        return row.id


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise StoreError(f"training run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")


def _run(s, run_id: int) -> TrainingRun:
    row = s.get(TrainingRun, run_id)
    if row is None:
        raise NotFoundError(f"no training run with id {run_id}")
    return row


def _mark(row: TrainingRun, status: str, metrics: dict | None, log_path, config: dict | None) -> None:
    _check_status(status)
    now = utcnow()
    if status == "running":
        row.started_at = row.started_at or now
        row.finished_at = None
    elif status in ENDED:
        row.finished_at = now
    row.status = status
    if metrics:
        row.metrics = {**(row.metrics or {}), **metrics}  # a new dict: JSON columns track assignment
    if config:
        row.config = {**(row.config or {}), **config}
    if log_path is not None:
        row.log_path = str(log_path)


def mark_training_run(project: Project, run_id: int, status: str, *, metrics: dict | None = None,
                      log_path: str | os.PathLike[str] | None = None, config: dict | None = None) -> TrainingRunData:
    """Set a run's status (``running`` stamps ``started_at``, an end status ``finished_at``);
    ``metrics`` and ``config`` are merged into what the run has."""
    with project.write() as s:
        row = _run(s, run_id)
        _mark(row, status, metrics, log_path, config)
        s.flush()
        return _data(row, _model_of(s, run_id))


def update_training_run(project: Project, run_id: int, *, metrics: dict | None = None,
                        config: dict | None = None) -> TrainingRunData:
    """Merge ``metrics`` / ``config`` into a run without changing its status."""
    with project.write() as s:
        row = _run(s, run_id)
        if metrics:
            row.metrics = {**(row.metrics or {}), **metrics}
        if config:
            row.config = {**(row.config or {}), **config}
        s.flush()
        return _data(row, _model_of(s, run_id))


def _model_of(s, run_id: int) -> int | None:
    return s.scalar(select(ModelVersion.id).where(ModelVersion.training_run_id == run_id)
                    .order_by(ModelVersion.id.desc()).limit(1))


def get_training_run(project: Project, run_id: int) -> TrainingRunData:
    with project.read() as s:
        return _data(_run(s, run_id), _model_of(s, run_id))


def training_runs(project: Project, statuses=None) -> list[TrainingRunData]:
    """Runs, newest first (optionally only those with one of ``statuses``)."""
    query = (select(TrainingRun, ModelVersion.id)
             .outerjoin(ModelVersion, and_(ModelVersion.training_run_id == TrainingRun.id))
             .order_by(TrainingRun.id.desc()))
    if statuses is not None:
        query = query.where(TrainingRun.status.in_(list(statuses)))
    out: dict[int, TrainingRunData] = {}
    with project.read() as s:
        for row, model_id in s.execute(query):
            if row.id not in out or (model_id or 0) > (out[row.id].model_version_id or 0):
                out[row.id] = _data(row, model_id)
    return list(out.values())


def finish_training_run(project: Project, run_id: int, checkpoint: str | os.PathLike[str], *, name: str,
                        parent_id: int | None, metrics: dict | None = None,
                        run_metrics: dict | None = None) -> ModelVersionData:
    """Register ``checkpoint`` as model version ``name`` (parent ``parent_id``, made by run
    ``run_id``, with ``metrics``) and mark the run finished: one transaction, so either both
    happen or neither does. ``run_metrics`` (default: ``metrics``) is merged into the run's."""
    path, digest = _checkpoint_digest(checkpoint)
    with project.write() as s:
        row = _run(s, run_id)
        if row.status == "finished":
            raise StoreError(f"training run {run_id} is already finished")
        _refuse_taken_name(s, name)
        if parent_id is not None and s.get(ModelVersion, parent_id) is None:
            raise NotFoundError(f"no model version with id {parent_id} (the parent of {name!r})")
        version = _insert_model_version(s, name, path, digest, parent_id=parent_id, training_run_id=run_id,
                                        metrics=dict(metrics or {}))
        _mark(row, "finished", run_metrics if run_metrics is not None else metrics, None, None)
        return version


def unique_model_name(project: Project, wanted: str) -> str:
    """``wanted``, or ``wanted (2)``, ``(3)``, ... when a model version already has that name."""
    with project.read() as s:
        names = set(s.scalars(select(ModelVersion.name).where(ModelVersion.name.like(f"{wanted}%"))))
    name, n = wanted, 2
    while name in names:
        name, n = f"{wanted} ({n})", n + 1
    return name


__all__ = [
    "ENDED",
    "TRAIN",
    "VAL",
    "SplitReport",
    "TrainingRunData",
    "ensure_validation_split",
    "finish_training_run",
    "get_training_run",
    "held_out_in_review_count",
    "labelled_condition",
    "mark_training_run",
    "split_counts",
    "split_hash",
    "start_training_run",
    "training_runs",
    "unique_model_name",
    "unreviewed_count",
    "update_training_run",
]
