"""The project's labels as ``srn train`` manifests: a frozen copy the training process reads.

Training runs in another process for minutes to hours while annotators keep editing; it reads
JSON-lines manifests (``srn.data.manifest``) written here from ONE read transaction (a
consistent snapshot) and each file written atomically, so it never sees a half-written edit.

What goes in (``ensure_validation_split`` has given every labelled image a fixed split):

* ``train.jsonl``: labelled images of the ``train`` split, finished or still in review (a
  labelled image without a split yet, labelled after the split was fixed, waits for the next
  run: trained on now, it could be held out later). Targets are the accepted boxes of
  every source (human, imported, and model proposals a person accepted), with ignore flags from
  the box's ``ignore`` flag or WIDER ``invalid`` attribute; model/pseudo boxes a person rejected
  are hard negatives; an image marked ``done`` is fully labelled (unlabelled regions are true
  negatives), any other image is not (only its boxes and hard negatives teach the model).
* ``val.jsonl``: finished (``done``) images of the ``val`` split, for the held-out AP@0.5 that
  ``srn train`` stores in ``final.pth`` — the same set the Evaluate tab scores; a ``val`` image
  still in review (or sent back to it) is neither trained on nor scored until it is done: held
  out stays held out. Images of other splits (e.g. an imported ``test``) are never used.
* ``pseudo.jsonl`` (optional): pseudo-labels on images nobody has reviewed yet.

Pseudo-labels: the stored model proposals, not ``srn train``'s own ``pseudo_labels`` setting.
``srn.engine.pseudo_labels`` runs the base model over every image *directly in one folder*; a
project's unreviewed images are spread over roots and sub-folders and mixed with reviewed ones,
so using it would need a folder of links rebuilt per run and a second detection pass over
images the app has usually already run the detector on. Instead the proposals the user sees in
the review window are exported: per unreviewed image (not labelled, not ``skipped``, split
``train`` or none — never held-out images), the ``proposed`` model/pseudo boxes of its newest
detection run scoring at least ``threshold``, each with loss ``weight`` (< 1) and the image not
fully labelled — the same targets ``pseudo_label_samples`` would make, from the detections
already in the store (which may come from any model the user ran, raw or enhanced). Images
without such a proposal are left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from app.store import Project, StoreError
from app.store.training import TRAIN, VAL, labels_snapshot
from srn.data.manifest import write_manifest
from srn.data.samples import TrainSample

TRAIN_MANIFEST = "train.jsonl"
VAL_MANIFEST = "val.jsonl"
PSEUDO_MANIFEST = "pseudo.jsonl"
MAX_LISTED = 20


class ExportError(ValueError):
    """The training set cannot be exported (no labelled images, ...); the message says why."""


@dataclass
class TrainingExport:
    train: Path
    val: Path | None
    pseudo: Path | None
    summary: dict = field(default_factory=dict)
    """JSON-ready counts (saved in the run's config): see ``export_training_set``."""

    def data_specs(self) -> list[dict]:
        """The ``data`` specs of a ``TrainConfig``."""
        specs = [{"type": "manifest", "path": str(self.train)}]
        if self.pseudo is not None:
            specs.append({"type": "manifest", "path": str(self.pseudo)})
        return specs

    def val_specs(self) -> list[dict]:
        return [{"type": "manifest", "path": str(self.val)}] if self.val is not None else []


def export_training_set(project: Project, out_dir: str | os.PathLike[str], *,
                        pseudo: dict | None = None) -> TrainingExport:
    """Write ``train.jsonl``, ``val.jsonl`` (when there are held-out images) and, when
    ``pseudo = {"threshold": t, "weight": w}`` is given, ``pseudo.jsonl`` into ``out_dir``.

    The summary counts images, target boxes, ignored boxes, hard negatives and fully labelled
    images per manifest, and lists image files that are missing (left out, so the training does
    not fail on them). Raises ``ExportError`` when no labelled train image is usable.
    """
    out = Path(out_dir)
    threshold = weight = None
    if pseudo is not None:
        threshold, weight = float(pseudo.get("threshold", 0.8)), float(pseudo.get("weight", 0.5))
        if not 0 <= threshold <= 1 or weight < 0:
            raise ExportError(f"pseudo-labels need a threshold in [0, 1] and a weight >= 0 (got {threshold}, {weight})")
    snapshot = labels_snapshot(project)
    roots, images, by_image = snapshot.roots, snapshot.images, snapshot.boxes

    summary: dict = {"train": _counts(), "val": _counts(), "pseudo": {**_counts(), "threshold": threshold,
                                                                      "weight": weight, "enabled": pseudo is not None},
                     "missing_files": 0, "missing_examples": []}
    train, val, pseudo_samples = [], [], []
    for image in images:
        kind = None
        if image.split == VAL:
            kind = VAL if image.status == "done" else None  # held out stays held out
        elif image.labelled:
            kind = TRAIN if image.split == TRAIN else None  # no split yet: maybe held out later
        elif (pseudo is not None and not image.labelled and image.status != "skipped"
              and image.split in (None, TRAIN)):
            kind = "pseudo"
        if kind is None:
            continue
        try:
            path = project.image_path(image.root_id, image.rel_path, roots)
        except StoreError:  # its root is gone, or its path leaves the root
            path = None
        if path is None or not path.is_file():
            summary["missing_files"] += 1
            if len(summary["missing_examples"]) < MAX_LISTED:
                summary["missing_examples"].append(image.rel_path)
            continue
        mine = by_image.get(image.id, [])
        if kind == "pseudo":
            sample = _pseudo_sample(path, mine, threshold, weight)
            if sample is None:
                continue
            pseudo_samples.append(sample)
        else:
            sample = _labelled_sample(path, mine, fully=image.status == "done", negatives=kind == TRAIN)
            (train if kind == TRAIN else val).append(sample)
        _add(summary[kind], sample)
    if not train:
        raise ExportError("no labelled training images: accept or draw faces (or mark images done) on some images "
                          "first" + (f" ({summary['missing_files']} labelled image files are missing)"
                                     if summary["missing_files"] else ""))
    out.mkdir(parents=True, exist_ok=True)
    result = TrainingExport(train=write_manifest(out / TRAIN_MANIFEST, train, relative=False), val=None, pseudo=None,
                            summary=summary)
    if val:
        result.val = write_manifest(out / VAL_MANIFEST, val, relative=False)
    if pseudo_samples:
        result.pseudo = write_manifest(out / PSEUDO_MANIFEST, pseudo_samples, relative=False)
    return result


def _counts() -> dict:
    return {"images": 0, "boxes": 0, "ignored": 0, "hard_negatives": 0, "fully_labelled": 0}


def _add(counts: dict, sample: TrainSample) -> None:
    counts["images"] += 1
    counts["boxes"] += len(sample.boxes)
    counts["ignored"] += int(sample.ignore.sum())
    counts["hard_negatives"] += len(sample.hard_negatives)
    counts["fully_labelled"] += int(sample.fully_labelled)


def _labelled_sample(path: Path, boxes: list, *, fully: bool, negatives: bool) -> TrainSample:
    targets = [b for b in boxes if b.state == "accepted"]
    hard = [b for b in boxes if negatives and b.state == "rejected" and b.source in ("model", "pseudo")]
    return TrainSample(path, [[b.x1, b.y1, b.x2, b.y2] for b in targets],
                       ignore=[bool(b.ignore) or bool(b.invalid) for b in targets],
                       hard_negatives=[[b.x1, b.y1, b.x2, b.y2] for b in hard], fully_labelled=fully)


def _pseudo_sample(path: Path, boxes: list, threshold: float, weight: float) -> TrainSample | None:
    proposals = [b for b in boxes if b.state == "proposed" and b.source in ("model", "pseudo") and b.score is not None]
    if not proposals:
        return None
    newest = max(b.detection_run_id or 0 for b in proposals)  # one run: raw and enhanced runs would double faces
    kept = [b for b in proposals if (b.detection_run_id or 0) == newest and b.score >= threshold]
    if not kept:
        return None
    return TrainSample(path, [[b.x1, b.y1, b.x2, b.y2] for b in kept], weights=[weight] * len(kept),
                       fully_labelled=False)


__all__ = [
    "PSEUDO_MANIFEST",
    "TRAIN_MANIFEST",
    "VAL_MANIFEST",
    "ExportError",
    "TrainingExport",
    "export_training_set",
]
