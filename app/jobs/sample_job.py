"""Generate the sample project in a background thread, so the window shows up immediately.

Generation and the demo model's detections take about half a minute (24 images at 1080x720);
doing it on the GUI thread would freeze the window on first launch. The worker is cancellable
so closing the window does not wait for the whole dataset.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.sample_project import ensure_sample_project


class SampleProjectWorker(QObject):
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
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the running generation to stop; safe to call from any thread."""
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        from srn.data.synth import Cancelled

        try:
            path = ensure_sample_project(
                self._base,
                progress=self.progress.emit,
                cancel=self._cancel.is_set,
                **self._options,
            )
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - any failure must reach the UI, not kill the thread
            self.failed.emit(f"Could not create the sample project in {self._base}: {exc}")
        else:
            self.finished.emit(path)


class SampleProjectJob(QObject):
    """Owns a ``SampleProjectWorker`` and its ``QThread``; re-emits the worker's signals.

    ``stop()`` cancels and waits for the thread, which the window calls when it closes.
    """

    progress = Signal(int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, base: str | os.PathLike[str], parent: QObject | None = None, **options: Any) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("sample-project")
        self._worker = SampleProjectWorker(base, **options)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        for source, target in (
            (self._worker.progress, self.progress),
            (self._worker.finished, self.finished),
            (self._worker.failed, self.failed),
            (self._worker.cancelled, self.cancelled),
        ):
            source.connect(target)
        # Direct: quit from the worker thread itself. A queued quit would need the GUI thread's
        # event loop, which is blocked in stop() -> wait() when the window closes.
        for end in (self._worker.finished, self._worker.failed, self._worker.cancelled):
            end.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the thread to end; returns False if it did not end in time."""
        self._worker.cancel()
        if not self._thread.isRunning():
            return True
        return self._thread.wait(timeout_ms)
