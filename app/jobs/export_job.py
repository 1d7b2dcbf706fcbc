"""Export labels or a detection run (``app.store.export``) in a background thread.

A large project takes seconds to read and write; on the GUI thread the Export dialog would
freeze. The worker shares the window's ``Project`` as ``DetectJob`` and ``EvaluateJob`` do (its
engine hands every call its own session and connection), rather than opening the project again
by its location: a database URL's password is not in ``Project.url``, and opening runs schema
checks and recovery meant for the window's own open. Cancel stops at the next image: the store's
files are atomic and its folders all or nothing, so a cancelled export has written nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.jobs.worker_thread import CancellableWorker, WorkerThreadJob, naming
from app.store import EXPORT_FORMATS, Project, StoreError, export

PROGRESS_INTERVAL_S = 0.05
"""At most one ``progress`` signal per interval (plus the last): a signal per image of a large
export would flood the GUI thread's queue."""


class ExportCancelled(Exception):
    """Raised from the store's progress callback to stop an export that was cancelled."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export where: the arguments of ``app.store.export.export``."""

    out: Path
    format: str
    statuses: tuple[str, ...] = ("done",)
    split: str | None = None
    run_id: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ValueError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {self.format!r}")
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "statuses", tuple(self.statuses))


def describe_error(exc: BaseException, out: Path) -> str:
    """A failure as one line naming the file: ``path: reason`` for an ``OSError`` (full disk,
    permission), the store's own message (which names the output) for a ``StoreError``."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else naming(exc.strerror, out)
    return naming(str(exc) or type(exc).__name__, out)


class ExportWorker(CancellableWorker):
    """Runs one export; lives in the job's thread.

    Exactly one of ``finished(ExportReport)``, ``cancelled()`` or ``failed(message)`` ends it;
    ``progress(done, total)`` says how many images were read and checked, before anything is written.
    """

    WHAT = "Export"

    progress = Signal(int, int)
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, project: Project, request: ExportRequest) -> None:
        super().__init__()
        self._project = project
        self._request = request
        self._last_progress = 0.0

    def _progress(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise ExportCancelled
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(done, total)

    def _run(self) -> None:
        r = self._request
        if self._cancel.is_set():
            self.cancelled.emit()
            return
        try:
            report = export(self._project, r.out, r.format, statuses=r.statuses, split=r.split, run_id=r.run_id,
                            force=r.force, progress=self._progress)
        except ExportCancelled:
            self.cancelled.emit()
            return
        except (StoreError, OSError, ValueError) as exc:  # refused, full disk, a bad name in the store
            self.failed.emit(describe_error(exc, r.out))
            return
        self.finished.emit(report)


class ExportJob(WorkerThreadJob):
    """Owns an ``ExportWorker`` and its ``QThread``; re-emits its signals in the GUI thread.

    ``start()``, ``cancel()`` (stop at the next image, write nothing), ``stop()`` (cancel and
    wait). Parent it to the application, not a window (see ``worker_thread``).
    """

    progress = Signal(int, int)
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, project: Project, request: ExportRequest, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self._bind(ExportWorker(project, request), "export", ("progress", "finished", "cancelled", "failed"))


__all__ = ["ExportCancelled", "ExportJob", "ExportRequest", "ExportWorker", "describe_error"]
