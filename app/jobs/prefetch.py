"""Decode and enhance the images an annotator will most likely open next, before they ask.

Reviewing is mostly "next, next, previous": while one image is looked at, its neighbours are read
and enhanced at full resolution in a background thread (at a lower OS priority than the thread
rendering the current image), so the switch only has to paint what is already in memory. A new
request replaces what is still pending: after a jump, stale neighbours are not worked through.
Files that cannot be read are skipped silently here; showing them reports the error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.jobs.enhance_job import EnhancedImageCache, render_full_resolution
from app.jobs.image_cache import ImageLRU
from app.jobs.worker_thread import RequestWorker, ServiceThread
from srn.enhance.params import MethodParams
from srn.imageio import as_rgb8, read_image

BACKGROUND_NICE = 10
"""Added niceness of the prefetch thread (Linux: threads have their own), so it yields to the
threads serving the image on screen."""


def file_key(key: Hashable, path: Path) -> tuple[Hashable, int, int]:
    """The cache key of an image file: its id plus modification time and size, so an image
    replaced or damaged on disk after it was cached is read again (and its error shown).
    Raises ``OSError`` when the file is gone."""
    st = path.stat()
    return key, st.st_mtime_ns, st.st_size


def decode(path: Path) -> np.ndarray:
    """The image as the app shows it and the detector sees it: uint8 RGB."""
    return as_rgb8(read_image(path), path)


class _PrefetchWorker(RequestWorker):
    """Fills the caches for a list of images, first item first; a new list replaces what is left."""

    done = Signal(object)  # key, once its original and enhanced result are cached

    def __init__(self, originals: ImageLRU, enhanced: EnhancedImageCache,
                 read: Callable[[Path], np.ndarray]) -> None:
        super().__init__()
        self._originals, self._enhanced, self._read = originals, enhanced, read
        self._pending: list[tuple[Hashable, Path]] = []
        self._params: MethodParams | None = None

    def submit(self, items: Sequence[tuple[Hashable, Path]], params: MethodParams | None) -> None:
        with self._lock:
            self._pending, self._params = list(items), params
            self._post()

    @Slot()
    def run(self) -> None:
        if hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
            except OSError:
                pass

    def _drop_pending(self) -> None:
        self._pending = []

    def _take(self):
        return (*self._pending.pop(0), self._params) if self._pending else None

    def _serve(self, request) -> None:
        # unreadable files and failing enhancements raise: dropped here, reported when shown
        key, path, params = request
        self._fill(key, path, params)
        self.done.emit(key)  # the caller's key, not the file key

    def _fill(self, key: Hashable, path: Path, params: MethodParams | None) -> None:
        key = file_key(key, path)
        rgb = self._originals.get(key)
        if rgb is None:
            rgb = self._read(path)
            self._originals.put(key, rgb)
        if params is not None and self._enhanced.get(key, params) is None:
            self._enhanced.put(key, params, render_full_resolution(rgb, params))


class NeighbourPrefetcher(QObject):
    """Fills ``originals`` and ``enhanced`` for the given images in a background ``ServiceThread``.

    Entries are stored under ``file_key(key, path)``.

    ``prefetch([(key, path), ...], params)`` replaces the pending list (first item first);
    ``prefetched(key)`` is emitted on the GUI thread as each one is ready. Call ``stop()``
    before the application quits (quitting stops it too).
    """

    prefetched = Signal(object)

    def __init__(self, originals: ImageLRU, enhanced: EnhancedImageCache, parent: QObject | None = None,
                 read: Callable[[Path], np.ndarray] = decode) -> None:
        super().__init__(parent)
        self._worker = _PrefetchWorker(originals, enhanced, read)
        self._worker.done.connect(self.prefetched)
        self._stopped = False
        self._thread = ServiceThread(self._worker, "prefetch")  # not parented, as EnhancePreviewer's

    def prefetch(self, items: Sequence[tuple[Hashable, Path]], params: MethodParams | None) -> None:
        if not self._stopped:
            self._worker.submit(items, params)

    def is_idle(self) -> bool:
        """Nothing pending and nothing being worked on."""
        return self._worker.idle()

    def is_running(self) -> bool:
        return self._thread.is_running()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        self._stopped = True
        return self._thread.stop(timeout_ms)
