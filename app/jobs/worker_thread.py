"""The one background-work abstraction: a worker object in its own ``QThread``, owned by a job.

Everything slow runs this way — detection, evaluation, export, weight downloads and sample
generation (``CancellableWorker``: one run, then the thread ends) as well as the enhancement
previews and the neighbour prefetch (``RequestWorker``: a long-lived worker that serves the
latest requests until it is stopped). The worker lives in the thread; the job
(``WorkerThreadJob``, parented to the application, never to a window: destroying a running
``QThread`` aborts the process) forwards the worker's signals to the GUI thread, cancels it and
ends the thread. ``DetectorWorker`` loads a model; ``read_ahead`` decodes the next image while
the model works on the current one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

T = TypeVar("T")
R = TypeVar("R")


def naming(message: str, path: Path | None) -> str:
    """The message, prefixed with the file unless it already names it."""
    if path is None or str(path) in message or path.name in message:
        return message
    return f"{path}: {message}"


class CancellableWorker(QObject):
    """A worker that stops between items when ``cancel()`` is called (from any thread).

    Subclasses declare a ``failed(str)`` signal and implement ``_run``; any exception it raises
    reaches the UI as ``failed("<WHAT> failed: ...")`` instead of ending the thread silently.
    """

    WHAT = "The job"
    ENDS_BY_ITSELF = True
    """The thread ends when ``finished``, ``cancelled`` or ``failed`` is emitted."""

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()
        self.thread_ident: int | None = None
        """``threading.get_ident()`` of the thread that ran the job (for diagnostics and tests)."""

    def cancel(self) -> None:
        """Stop after the current item; safe to call from any thread."""
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        self.thread_ident = threading.get_ident()
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - any failure must reach the UI, not kill the thread
            self.failed.emit(f"{self.WHAT} failed: {exc}")

    def _run(self) -> None:
        raise NotImplementedError


class DetectorWorker(CancellableWorker):
    """A ``CancellableWorker`` that runs an SRN checkpoint (``DetectWorker``, ``EvaluateWorker``).

    ``_load(checkpoint)`` gives the ``srn.engine.detector.Detector`` on ``device`` with
    ``inference`` settings, on the backend and precision ``auto`` picks (OpenVINO on the CPU,
    the fastest precision that keeps the boxes, checked on ``_sample_images()``), and emits
    ``device_ready(device · backend precision)``; or emits ``failed`` naming the checkpoint and
    gives ``None``. The slow first-time steps (converting, checking) and why the precision was
    chosen are ``preparing(text)`` lines.
    """

    device_ready = Signal(str)
    preparing = Signal(str)
    SAMPLE_IMAGES = 4

    def __init__(self, device, inference, enhance=None) -> None:
        super().__init__()
        self._device = device
        self._inference = inference
        self._enhance = enhance

    def _sample_images(self) -> list:
        """A few of the job's images as the network will see them (enhanced): what ``auto``
        checks on (``images_from_files``: unreadable ones are left out, the job reports them)."""
        from srn.engine.backends.choose import images_from_files

        return images_from_files(self._sample_paths(), self._enhance, self.SAMPLE_IMAGES)

    def _sample_paths(self) -> Iterator[Path]:
        return iter(())

    def _load(self, checkpoint: Path):
        from srn.engine.backends import default_backend
        from srn.engine.detector import Detector

        try:
            detector = Detector.from_checkpoint(checkpoint, device=self._device, inference=self._inference,
                                                nonfinite="error", backend=default_backend(), precision="auto",
                                                sample_images=self._sample_images, log=self.preparing.emit)
        except Exception as exc:  # noqa: BLE001 - CheckpointError, DeviceError, out of memory, ...
            self.failed.emit(naming(f"Cannot load the model: {exc}", checkpoint))
            return None
        if detector.choice.reason:
            self.preparing.emit(f"{detector.backend.describe()}: {detector.choice.reason}")
        self.device_ready.emit(detector.device_name)
        return detector


def read_ahead(items: Sequence[T], read: Callable[[T], R], cancelled: Callable[[], bool], *,
               name: str = "read-ahead") -> Iterator[tuple[T, R]]:
    """``(item, read(item))`` for each item in order, reading the next item in a thread (named
    ``name``) while the caller works on this one. ``read`` must not raise (return the error).

    Stops, yielding nothing more, when ``cancelled()`` is true before an item is taken: the
    caller tells a cancelled end by counting the items or by asking again after the loop. At
    most one read runs ahead; an ending loop waits for it.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        pending = pool.submit(read, items[0]) if items else None
        for index, item in enumerate(items):
            if cancelled():
                return
            result = pending.result()
            pending = pool.submit(read, items[index + 1]) if index + 1 < len(items) else None
            yield item, result


class RequestWorker(QObject):
    """A long-lived worker that serves requests posted from any thread, only the ones still wanted.

    Subclasses keep their pending requests under ``self._lock`` and call ``_post()`` (holding the
    lock) after changing them; ``_take()`` (called with the lock held) removes and returns the
    next request, or ``None`` when nothing is pending; ``_serve(request)`` does the work in the
    worker thread. Requests that arrive during a ``_serve`` wait in the subclass's pending state,
    which decides what to keep (the newest only, a replaced list, ...): one wake-up is posted at a
    time, so a burst of requests costs one drain, not one queued call each. An exception from
    ``_serve`` goes to ``_serve_failed`` (default: dropped) and never ends the thread.
    """

    ENDS_BY_ITSELF = False
    """The thread runs until the job's ``stop()``."""
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._posted = False
        self._stopping = False
        self.busy = False
        """A request is being served (read under ``_lock`` with the pending state for idleness)."""
        self._wake.connect(self._drain)  # queued: the receiver lives in the worker thread

    @Slot()
    def run(self) -> None:
        """Called once in the worker thread when it starts (e.g. to lower its priority)."""

    def _post(self) -> None:
        if not self._posted and not self._stopping:
            self._posted = True
            self._wake.emit()

    def cancel(self) -> None:
        """Drop what is pending and serve nothing more; safe to call from any thread."""
        with self._lock:
            self._stopping = True
            self._drop_pending()

    def idle(self) -> bool:
        """Nothing pending and nothing being served."""
        with self._lock:
            return not self._posted and not self.busy

    def _take(self):
        raise NotImplementedError

    def _drop_pending(self) -> None:
        raise NotImplementedError

    def _serve(self, request) -> None:
        raise NotImplementedError

    def _serve_failed(self, request, exc: Exception) -> None:
        """Called in the worker thread when ``_serve(request)`` raised."""

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                request = None if self._stopping else self._take()
                if request is None:
                    self._posted = False
                    return
                self.busy = True
            try:
                self._serve(request)
            except Exception as exc:  # noqa: BLE001 - a failing request must not end the thread
                self._serve_failed(request, exc)
            finally:
                self.busy = False


class WorkerThreadJob(QObject):
    """Owns a worker in its own ``QThread``: ``DetectJob``, ``EvaluateJob``, ``ExportJob``,
    ``FetchJob``, ``SampleProjectJob`` (subclasses declare the signals and call ``_bind``) and
    ``ServiceThread`` (a ``RequestWorker`` started at once, stopped when the application quits)."""

    END_SIGNALS = ("finished", "cancelled", "failed")

    def _bind(self, worker: QObject, name: str, forwarded: tuple[str, ...]) -> None:
        """Move ``worker`` into a new thread named ``name``; forward its ``forwarded`` signals."""
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = worker
        worker.moveToThread(self._thread)
        self._thread.started.connect(worker.run)
        for signal in forwarded:
            getattr(worker, signal).connect(getattr(self, signal))
        # Direct: quit from the worker thread itself; a queued quit would need the GUI thread's
        # event loop, which is blocked in stop() -> wait() when the window closes.
        if worker.ENDS_BY_ITSELF:
            for end in self.END_SIGNALS:
                getattr(worker, end).connect(self._thread.quit, Qt.ConnectionType.DirectConnection)

    @property
    def worker(self):
        return self._worker

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def cancel(self) -> None:
        """Stop after the item in progress."""
        self._worker.cancel()

    def wait(self, timeout_ms: int = 10_000) -> bool:
        return self._thread.wait(timeout_ms) if self._thread.isRunning() else True

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the thread to end; returns False if it did not end in time."""
        self._worker.cancel()
        if not self._worker.ENDS_BY_ITSELF:
            self._thread.quit()  # after the request in progress
        return self.wait(timeout_ms)


class ServiceThread(WorkerThreadJob):
    """A ``RequestWorker`` in a thread named ``name``, started now and stopped (pending requests
    dropped, the one in progress finished) by ``stop()`` or when the application quits."""

    def __init__(self, worker: RequestWorker, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bind(worker, name, ())
        self.start()
        app = QCoreApplication.instance()
        if app is not None:  # a forgotten stop() must not leave the thread running at exit
            app.aboutToQuit.connect(self.stop)
