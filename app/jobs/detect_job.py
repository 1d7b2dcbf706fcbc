"""Run the face detector over project images in a background thread, storing each image's boxes.

Loading a checkpoint (the authors' ``SRN.pth`` is ~200 MB) and CPU inference take seconds per
image; on the GUI thread they would freeze the window. The worker writes every image's boxes as
soon as it is done, so the view can show them while the run goes on, and a cancelled run keeps
what it finished. One bad image (missing, corrupt) is reported and skipped, never fatal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.jobs.prefetch import decode
from app.jobs.worker_thread import DetectorWorker, WorkerThreadJob, naming, read_ahead
from app.store import Project, add_detections, image_file, start_detection_run

NO_RUN = -1
"""The ``run_id`` of ``cancelled`` when the job stopped before it opened a run in the store."""


def format_eta(seconds: float) -> str:
    """``"1:05:09"`` / ``"4:07"`` for a remaining time; ``""`` when it is not known yet."""
    if seconds < 0:
        return ""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def run_settings(checkpoint: str | os.PathLike[str], sha256: str, detector, enhance, mode: str) -> dict:
    """What the store records about a detection run, so its boxes can be traced to their source."""
    return {
        "checkpoint": str(Path(checkpoint).resolve()),
        "checkpoint_sha256": sha256,
        "mode": mode,
        "enhancement": enhance.to_dict() if enhance is not None else None,
        "device": detector.device_name,
        "inference": detector.inference.to_dict(),
    }


class DetectWorker(DetectorWorker):
    """Loads the detector and runs it; lives in the job's thread.

    Exactly one of ``finished(run_id)``, ``cancelled(run_id)`` or ``failed(message)`` ends a run.
    """

    WHAT = "Detection"

    progress = Signal(int, int, float)  # done, total, eta seconds (-1: unknown)
    image_done = Signal(int, int)  # image id, boxes stored
    image_failed = Signal(int, str)  # image id, message naming the file
    finished = Signal(int)
    cancelled = Signal(int)
    failed = Signal(str)

    def __init__(self, project: Project, image_ids: Iterable[int], checkpoint: str | os.PathLike[str],
                 model_version_id: int | None, enhance, mode: str, device, inference) -> None:
        super().__init__(device, inference, enhance)
        self._project = project
        self._ids = [int(i) for i in image_ids]
        self._checkpoint = Path(checkpoint)
        self._model_version_id = model_version_id
        self._mode = mode

    def _sample_paths(self) -> Iterator[Path]:
        for image_id in self._ids[:2 * self.SAMPLE_IMAGES]:
            try:
                yield image_file(self._project, image_id)
            except Exception:  # noqa: BLE001 - a missing image is reported when the run reaches it
                continue

    def _run(self) -> None:
        detector = self._load(self._checkpoint)
        if detector is None:
            return
        if self._cancel.is_set():
            self.cancelled.emit(NO_RUN)
            return
        run_id = start_detection_run(self._project, model_version_id=self._model_version_id,
                                     enhanced=self._enhance is not None, settings=self._settings(detector))
        self._detect_all(detector, run_id)

    # -- steps ---------------------------------------------------------------------------------
    def _settings(self, detector) -> dict:
        from srn.fileio import sha256_file

        return run_settings(self._checkpoint, sha256_file(self._checkpoint), detector, self._enhance, self._mode)

    def _read(self, image_id: int) -> tuple[Path | None, np.ndarray | Exception]:
        """The image's file and pixels, or the error that stopped reading them (never raises)."""
        path = None
        try:
            path = image_file(self._project, image_id)
            return path, decode(path)
        except Exception as exc:  # noqa: BLE001 - reported per image
            return path, exc

    def _detect_all(self, detector, run_id: int) -> None:
        total = len(self._ids)
        self.progress.emit(0, total, -1.0)
        started = time.monotonic()
        done = 0
        # Decode the next file while the network works on this one.
        for image_id, (path, image) in read_ahead(self._ids, self._read, self._cancel.is_set, name="detect-read"):
            done += 1
            self._detect_one(detector, run_id, image_id, path, image)
            elapsed = time.monotonic() - started
            eta = elapsed / done * (total - done)
            self.progress.emit(done, total, eta)
        if done < total:  # read_ahead stopped early: cancelled
            self.cancelled.emit(run_id)
            return
        self.finished.emit(run_id)

    def _detect_one(self, detector, run_id: int, image_id: int, path: Path | None, image) -> None:
        try:
            if isinstance(image, Exception):
                raise image
            det = detector.detect([image], enhance=self._enhance, mode=self._mode)[0]
            boxes = det.boxes.detach().cpu().numpy()
            scores = det.scores.detach().cpu().numpy()
            stored = add_detections(self._project, run_id, {image_id: (boxes, scores)})
        except Exception as exc:  # noqa: BLE001 - one bad image never stops the run
            self.image_failed.emit(image_id, naming(str(exc) or type(exc).__name__, path))
        else:
            self.image_done.emit(image_id, stored)


class DetectJob(WorkerThreadJob):
    """Owns a ``DetectWorker`` and its ``QThread``; re-emits the worker's signals in the GUI thread.

    ``start()`` begins; ``cancel()`` stops after the current image; ``stop()`` cancels and waits
    for the thread (the window calls it when it closes). Parent the job to the application, not
    a window: destroying a ``QThread`` that still runs aborts the process.
    """

    device_ready = Signal(str)
    preparing = Signal(str)
    progress = Signal(int, int, float)
    image_done = Signal(int, int)
    image_failed = Signal(int, str)
    finished = Signal(int)
    cancelled = Signal(int)
    failed = Signal(str)

    def __init__(self, project: Project, image_ids: Iterable[int], checkpoint: str | os.PathLike[str],
                 model_version_id: int | None = None, enhance=None, mode: str = "single", device=None, *,
                 inference=None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if mode not in ("single", "multiscale"):
            raise ValueError(f"mode must be 'single' or 'multiscale', got {mode!r}")
        self._bind(DetectWorker(project, image_ids, checkpoint, model_version_id, enhance, mode, device, inference),
                   "detect", ("device_ready", "preparing", "progress", "image_done", "image_failed", "finished",
                              "cancelled", "failed"))
