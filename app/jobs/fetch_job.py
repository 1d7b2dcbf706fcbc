"""Download model weights (``srn.weights.fetch``) in a worker thread, for the Models menu.

A 200 MB download must not freeze the window, and closing or cancelling must not lose it:
``cancel()`` stops between chunks and leaves the ``.part`` file, which the next fetch of the
same source resumes. Checks and the atomic rename are ``srn.weights``'s; this only relays.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.jobs.worker_thread import CancellableWorker, WorkerThreadJob

_EMIT_EVERY_S = 0.1
"""At most ~10 progress signals a second: a chunk arrives every few microseconds on a fast link."""


class FetchWorker(CancellableWorker):
    """Runs one fetch; ends with exactly one of ``finished(Path)``, ``cancelled(str)`` or ``failed(str)``.

    ``progress(done_bytes, total_bytes)``: Python ints (files may pass 2 GiB); total is -1 while unknown.
    ``result`` holds the ``srn.weights.FetchResult`` once finished (``downloaded`` False: it was there).
    """

    WHAT = "The download"

    progress = Signal(object, object)
    finished = Signal(object)
    cancelled = Signal(str)
    failed = Signal(str)

    def __init__(self, source, dest: str | os.PathLike[str] | None = None, *, force: bool = False,
                 drive_download=None) -> None:
        super().__init__()
        self._source = source
        self._dest = dest
        self._force = force
        self._drive_download = drive_download
        self._last_emit = 0.0
        self.result = None

    def _progress(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done == total or now - self._last_emit >= _EMIT_EVERY_S:
            self._last_emit = now
            self.progress.emit(int(done), -1 if total is None else int(total))

    def _run(self) -> None:
        from srn.weights.download import FetchCancelled, FetchError
        from srn.weights.fetch import fetch

        try:
            result = fetch(self._source, self._dest, force=self._force, progress=self._progress,
                           cancel=self._cancel, drive_download=self._drive_download)
        except FetchCancelled as exc:
            self.cancelled.emit(str(exc))
            return
        except FetchError as exc:
            self.failed.emit(str(exc))
            return
        self.result = result
        self.progress.emit(result.size, result.size)
        self.finished.emit(Path(result.path))


class FetchJob(WorkerThreadJob):
    """Owns a ``FetchWorker`` and its ``QThread`` (parent it to the application, not a window)."""

    progress = Signal(object, object)
    finished = Signal(object)
    cancelled = Signal(str)
    failed = Signal(str)

    def __init__(self, source, dest: str | os.PathLike[str] | None = None, *, force: bool = False,
                 drive_download=None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bind(FetchWorker(source, dest, force=force, drive_download=drive_download), "fetch-weights",
                   ("progress", "finished", "cancelled", "failed"))

    @property
    def result(self):
        """The ``FetchResult`` of a finished fetch, else None."""
        return self._worker.result
