"""Generate the sample project in a background thread, so the window shows up immediately.

Generation and the demo model's detections take about half a minute (24 images at 1080x720);
doing it on the GUI thread would freeze the window on first launch. The worker is cancellable
so closing the window does not wait for the whole dataset. It runs on the jobs' one worker
abstraction (``app.jobs.worker_thread``), as detection and evaluation do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.jobs.worker_thread import CancellableWorker, WorkerThreadJob
from app.sample_project import ensure_sample_project


class SampleProjectWorker(CancellableWorker):
    """Runs ``ensure_sample_project`` once; lives in a worker thread.

    Exactly one of ``finished(Path)``, ``failed(str)`` or ``cancelled()`` is emitted at the end.
    """

    progress = Signal(int, int, str)  # done, total, stage (app.sample_project.GENERATING, ...)
    finished = Signal(object)  # Path of the complete sample project
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, base: str | os.PathLike[str], **options: Any) -> None:
        super().__init__()
        self._base = Path(base)
        self._options = options
        self.WHAT = f"Creating the sample project in {self._base}"

    def _run(self) -> None:
        from srn.data.synth import Cancelled

        try:
            path = ensure_sample_project(self._base, progress=self.progress.emit, cancel=self._cancel.is_set,
                                         **self._options)
        except Cancelled:
            self.cancelled.emit()
        else:
            self.finished.emit(path)


class SampleProjectJob(WorkerThreadJob):
    """Owns a ``SampleProjectWorker`` and its thread; ``stop()`` cancels and waits (the window
    calls it when it closes)."""

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, base: str | os.PathLike[str], parent: QObject | None = None, **options: Any) -> None:
        super().__init__(parent)
        self._bind(SampleProjectWorker(base, **options), "sample-project",
                   ("progress", "finished", "failed", "cancelled"))
