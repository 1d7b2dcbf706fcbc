"""A job = a worker object in its own ``QThread``, with its signals re-emitted in the GUI thread.

Detection and evaluation load a model and run it image by image: seconds to minutes that must
not block the window. Both follow one pattern, kept here once: the worker lives in the thread,
the job (parented to the application, never to a window: destroying a running ``QThread``
aborts the process) forwards the worker's signals and ends the thread when the worker ends.
``DetectorWorker`` loads their model; ``read_ahead`` decodes the next image while the model
works on the current one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

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


class WorkerThreadJob(QObject):
    """Base of ``DetectJob`` and ``EvaluateJob``; subclasses declare the signals and call ``_bind``."""

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
        return self.wait(timeout_ms)
