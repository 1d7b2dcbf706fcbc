"""Evaluate a model version on a labelled set in a background thread and store the result.

The labelled set is the project's held-out images (``val`` split, reviewed; accepted boxes are
the faces, ignore flags honoured) or a label file/folder (DARK FACE or WIDER FACE) with its image
folder. Detection is the SRN engine, single scale, on the raw or the enhanced image; AP@0.5, the
PR curve and the per-image matches come from ``srn.eval.evaluate_ap50`` (one-to-one matching).
Loading the model and CPU inference take seconds per image, so all of it runs off the GUI
thread, like ``DetectJob``. A corrupt image is reported and left out of the evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.jobs.prefetch import decode
from app.jobs.worker_thread import DetectorWorker, WorkerThreadJob, naming, read_ahead
from app.store.detections import model_versions
from app.store.evaluations import record_evaluation
from app.store.images import image_file
from app.store.labelled_sets import (
    HELDOUT,
    GroundTruthImage,
    ground_truth_fingerprint,
    heldout_ground_truth,
    image_ids_for_paths,
    label_files_fingerprint,
    labels_dataset,
)
from app.store.project import Project
from srn.formats.images import find_image
from srn.formats.registry import format_names, get_format, read_labels

LABEL_FORMATS = ("auto", *format_names(readable=True))
"""``auto``: a folder is DARK FACE labels, a ``.json`` file COCO, another file WIDER FACE."""
MAX_ERRORS = 2000
"""False positives (highest scores first) and missed faces kept per evaluation."""


@dataclass(frozen=True)
class LabelSet:
    """An imported labelled set: a label file or folder of a readable format (DARK FACE
    ``<id>.txt`` folder, WIDER FACE ``.txt``, COCO ``.json``, VOC folder), and the folder its
    image names are relative to."""

    labels: Path
    images: Path
    format: str = "auto"

    @property
    def dataset(self) -> str:
        return labels_dataset(self.labels)

    def resolved_format(self) -> str:
        if self.format not in LABEL_FORMATS:
            raise ValueError(f"label format must be one of {', '.join(LABEL_FORMATS)}, got {self.format!r}")
        if self.format != "auto":
            return self.format
        labels = Path(self.labels)
        return "darkface" if labels.is_dir() else "coco" if labels.suffix.lower() == ".json" else "wider"


def label_set_ground_truth(project: Project | None, label_set: LabelSet) -> list[GroundTruthImage]:
    """Read a label file/folder through ``srn.formats`` (errors name ``file:line``); images that are
    also in the project carry their image id, so their errors can be opened in the review window."""
    labels, images = Path(label_set.labels), Path(label_set.images)
    if not labels.exists():
        raise FileNotFoundError(f"{labels}: no such label file or folder")
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: no such image folder")
    fmt = label_set.resolved_format()
    by_id = not get_format(fmt).image_names  # DARK FACE: ids, matched to an image file of any extension
    out: list[GroundTruthImage] = []
    for ann in read_labels(fmt, labels):
        path = (find_image(images, ann.name) or images / f"{ann.name}.png") if by_id else images / ann.name
        out.append(GroundTruthImage(None, path, ann.boxes, ~ann.ignore_or_false, ann.name))  # missing: per image
    if project is not None:
        ids = image_ids_for_paths(project, [g.path for g in out])
        for g in out:
            g.image_id = ids.get(g.path)
    return out


# -- scoring -----------------------------------------------------------------------------------

@dataclass
class Scored:
    """AP@0.5 and everything stored with it, computed from detections by ``srn.eval``."""

    result: object  # srn.eval.EvalResult
    errors: dict


def best_f1_threshold(curve) -> float:
    """The score at the curve's best F1 point: the error list shows the mistakes at the model's
    best operating point, not every low-confidence proposal (``inf``: no prediction counted)."""
    p, r, t = (np.asarray(a, dtype=np.float64) for a in (curve.precision, curve.recall, curve.thresholds))
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where((p + r) > 0, 2 * p * r / (p + r), 0.0)
    f1 = np.nan_to_num(f1, nan=0.0)
    if not len(f1) or f1.max() <= 0:
        return math.inf
    return float(t[int(np.argmax(f1))])


def score_detections(gt: list[GroundTruthImage], detections: list[tuple[np.ndarray, np.ndarray]],
                     threshold: float | None = None) -> Scored:
    """``srn.eval.evaluate_ap50`` on these images and detections, plus the false positives and
    missed faces at ``threshold`` (default: the best-F1 score)."""
    from srn.eval.matching import evaluate_ap50

    result = evaluate_ap50([g.boxes for g in gt], detections, keep=[g.keep for g in gt],
                           names=[str(i) for i in range(len(gt))])
    if threshold is None:
        threshold = best_f1_threshold(result.curve)
    fps, missed = [], []
    for g, (boxes, _), image in zip(gt, detections, result.images):
        _, fp, fn = image.errors_at(threshold)
        where = {"image_id": g.image_id, "path": str(g.path)}
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        fps += [{**where, "box": boxes[i].tolist(), "score": float(image.scores[i])} for i in fp]
        missed += [{**where, "box": g.boxes[i].tolist(), "score": None} for i in fn]
    fps.sort(key=lambda e: -e["score"])
    return Scored(result, {"threshold": threshold if math.isfinite(threshold) else None,
                           "false_positives": fps[:MAX_ERRORS], "missed": missed[:MAX_ERRORS],
                           "n_false_positives": len(fps), "n_missed": len(missed)})


# -- the job -----------------------------------------------------------------------------------

class EvaluateWorker(DetectorWorker):
    """Loads the labels and the model, detects, scores and stores; lives in the job's thread.

    Exactly one of ``finished(evaluation_id)``, ``cancelled()`` or ``failed(message)`` ends it.
    """

    WHAT = "Evaluation"

    progress = Signal(int, int, float)  # done, total, eta seconds (-1: unknown)
    image_failed = Signal(str, str)  # image path, message naming the file
    finished = Signal(int)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, project: Project, model_version_id: int, dataset, enhance, device, inference,
                 error_threshold: float | None) -> None:
        super().__init__(device, inference, enhance)
        self._project = project
        self._model_version_id = int(model_version_id)
        self._dataset = dataset
        self._threshold = error_threshold
        self._gt: list[GroundTruthImage] = []

    def _run(self) -> None:
        model = {m.id: m for m in model_versions(self._project)}.get(self._model_version_id)
        if model is None:
            self.failed.emit(f"Evaluation failed: no model version with id {self._model_version_id}")
            return
        try:
            # The fingerprint is of the ground truth read here, not of the set when the result is
            # stored: review may go on while the model runs (minutes), and then the result is stale.
            if self._dataset == HELDOUT:
                gt, key = heldout_ground_truth(self._project), HELDOUT
                fingerprint = ground_truth_fingerprint(gt)
            else:
                gt, key = label_set_ground_truth(self._project, self._dataset), self._dataset.dataset
                fingerprint = label_files_fingerprint(self._dataset.labels)
        except Exception as exc:  # noqa: BLE001 - FormatError (file:line), missing folder, ...
            self.failed.emit(f"Cannot read the labelled set: {exc}")
            return
        if not gt:
            what = ("the held-out set is empty: set images' split to 'val' and mark them done"
                    if key == HELDOUT else f"{self._dataset.labels} labels no image")
            self.failed.emit(f"Nothing to evaluate: {what}")
            return
        self._gt = gt
        detector = self._load(Path(model.checkpoint_path))
        if detector is None:
            return
        kept, detections, skipped = self._detect_all(detector, gt)
        if kept is None:
            self.cancelled.emit()
            return
        if not kept:
            self.failed.emit(f"Evaluation failed: none of the {len(gt)} images could be read")
            return
        scored = score_detections(kept, detections, self._threshold)
        result = scored.result
        stored = record_evaluation(
            self._project, self._model_version_id, key, ap=result.ap, n_images=len(kept), n_faces=result.num_faces,
            precision=result.curve.precision, recall=result.curve.recall, thresholds=result.curve.thresholds,
            enhanced=self._enhance is not None,
            enhance_settings=self._enhance.to_dict() if self._enhance is not None else None,
            errors={**scored.errors, "skipped": skipped}, dataset_fingerprint=fingerprint)
        self.finished.emit(stored.id)

    def _path(self, g: GroundTruthImage) -> Path:
        if g.image_id is not None and self._dataset == HELDOUT:
            return image_file(self._project, g.image_id)  # refuses a path that leaves its root
        return g.path

    def _sample_paths(self) -> Iterator[Path]:
        for g in self._gt[:2 * self.SAMPLE_IMAGES]:
            try:
                yield self._path(g)
            except Exception:  # noqa: BLE001 - reported when the evaluation reaches the image
                continue

    def _read(self, g: GroundTruthImage) -> tuple[Path, np.ndarray | Exception]:
        path = g.path
        try:
            path = self._path(g)
            return path, decode(path)
        except Exception as exc:  # noqa: BLE001 - reported per image
            return path, exc

    def _detect_all(self, detector, gt: list[GroundTruthImage]):
        """``(images kept, their detections, skipped entries)``; ``(None, ...)`` when cancelled."""
        total = len(gt)
        kept, detections, skipped = [], [], []
        self.progress.emit(0, total, -1.0)
        started = time.monotonic()
        reads = read_ahead(gt, self._read, self._cancel.is_set, name="evaluate-read")
        for done, (g, (path, image)) in enumerate(reads, start=1):
            try:
                if isinstance(image, Exception):
                    raise image
                det = detector.detect([image], enhance=self._enhance, mode="single")[0]
                detections.append((det.boxes.detach().cpu().numpy().astype(np.float64),
                                   det.scores.detach().cpu().numpy().astype(np.float64)))
                kept.append(g)
            except Exception as exc:  # noqa: BLE001 - one bad image never stops the evaluation
                message = naming(str(exc) or type(exc).__name__, path)
                skipped.append({"image_id": g.image_id, "path": str(path), "message": message})
                self.image_failed.emit(str(path), message)
            elapsed = time.monotonic() - started
            self.progress.emit(done, total, elapsed / done * (total - done))
        if self._cancel.is_set():
            return None, None, None
        return kept, detections, skipped


class EvaluateJob(WorkerThreadJob):
    """Owns an ``EvaluateWorker`` and its ``QThread``; re-emits its signals in the GUI thread.

    ``dataset``: ``"heldout"`` or a ``LabelSet``; ``enhance``: ``srn.enhance`` parameters (e.g.
    ``MSRCRParams()``) or ``None`` for raw images. ``start()``, ``cancel()`` (stop after the
    current image, store nothing), ``stop()`` (cancel and wait). Parent it to the application.
    """

    device_ready = Signal(str)
    preparing = Signal(str)
    progress = Signal(int, int, float)
    image_failed = Signal(str, str)
    finished = Signal(int)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, project: Project, model_version_id: int, dataset: str | LabelSet = HELDOUT, enhance=None,
                 device=None, *, inference=None, error_threshold: float | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not (dataset == HELDOUT or isinstance(dataset, LabelSet)):
            raise ValueError(f"dataset must be {HELDOUT!r} or a LabelSet, got {dataset!r}")
        if isinstance(dataset, LabelSet):
            dataset.resolved_format()  # a bad format name fails here, in the caller
        self.project = project
        """The project the evaluation reads and stores into (the view may have moved on to another)."""
        self.model_version_id = int(model_version_id)
        self.dataset = dataset
        self.enhanced = enhance is not None
        self._bind(EvaluateWorker(project, model_version_id, dataset, enhance, device, inference, error_threshold),
                   "evaluate", ("device_ready", "preparing", "progress", "image_failed", "finished", "cancelled",
                                "failed"))
