"""Enhancement off the GUI thread: live previews while a slider moves, full resolution on release.

A slider emits far more changes per second than MSRCR can render, and a queue of stale renders
makes the picture lag behind the hand. Each worker therefore keeps only the *latest* request:
while one render runs, newer requests overwrite the pending one, so the preview always shows the
newest parameters as soon as the previous render ends. Previews (``PreviewSession``, display
resolution) and full-resolution renders run in two threads, so a second-long full render never
blocks the next slider move. Results for an image that is no longer current are dropped.
``EnhancedImageCache`` keeps recent full-resolution results, so going back to an image is instant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from app.jobs.image_cache import ImageLRU
from srn.enhance import RetinexCache, enhance, get_method
from srn.enhance.params import MethodParams
from srn.enhance.preview import PREVIEW_MAX_WIDTH, PreviewSession

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


class EnhancedImageCache(ImageLRU):
    """Enhanced images keyed by ``(image key, params)``: an ``ImageLRU`` bounded by total bytes."""

    def __init__(self, budget_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(budget_bytes)

    @staticmethod
    def _slot(key: Hashable, params: MethodParams) -> tuple[Hashable, str]:
        return key, params.to_json()

    def get(self, key: Hashable, params: MethodParams) -> np.ndarray | None:  # type: ignore[override]
        return super().get(self._slot(key, params))

    def put(self, key: Hashable, params: MethodParams, image: np.ndarray) -> None:  # type: ignore[override]
        super().put(self._slot(key, params), image)

    def discard(self, key: Hashable) -> None:
        """Forget every result of image ``key`` (e.g. the file changed on disk)."""
        self.discard_where(lambda slot: slot[0] == key)

    def __contains__(self, item: tuple[Hashable, MethodParams]) -> bool:  # type: ignore[override]
        return super().__contains__(self._slot(*item))


def render_full_resolution(image: np.ndarray, params: MethodParams) -> np.ndarray:
    """``enhance(image, params)`` at full resolution, as the full-resolution worker computes it."""
    return _FullResolution(image).render(params)


class _FullResolution:
    """One image at full resolution plus its Retinex cache (σ changes recompute one surround)."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.cache: RetinexCache | None = None

    def render(self, params: MethodParams) -> np.ndarray:
        if not get_method(params.method).uses_retinex_cache:
            return enhance(self.image, params)
        if self.cache is None:
            self.cache = RetinexCache(self.image)
        return enhance(self.image, params, cache=self.cache)


class _LatestOnlyWorker(QObject):
    """Lives in its own thread; renders the most recent request for the most recent image.

    ``submit_image`` and ``submit`` may be called from any thread: they only replace the pending
    request and post one wake-up if none is outstanding. ``_drain`` (worker thread) takes the
    pending pair atomically, so requests that arrive during a render collapse into one.
    """

    done = Signal(object, object, object)  # key, image, params
    failed = Signal(object, object, str)  # key, params (None: while preparing the image), message
    _wake = Signal()

    def __init__(self, prepare: Callable[[np.ndarray], Any], render: Callable[[Any, MethodParams], np.ndarray]):
        super().__init__()
        self._prepare, self._render = prepare, render
        self._lock = threading.Lock()
        self._pending_image: tuple[Hashable, np.ndarray | None] | None = None
        self._pending_params: MethodParams | None = None
        self._posted = False
        self._stopping = False
        self._key: Hashable = None
        self._state: Any = None
        self.renders = 0
        self._wake.connect(self._drain)

    def submit_image(self, key: Hashable, image: np.ndarray | None) -> None:
        with self._lock:
            self._pending_image, self._pending_params = (key, image), None
            self._post()

    def submit(self, params: MethodParams) -> None:
        with self._lock:
            self._pending_params = params
            self._post()

    def _post(self) -> None:
        if not self._posted and not self._stopping:
            self._posted = True
            self._wake.emit()  # queued: the receiver lives in the worker thread

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._pending_image = self._pending_params = None

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                image, params = self._pending_image, self._pending_params
                self._pending_image = self._pending_params = None
                if self._stopping or (image is None and params is None):
                    self._posted = False
                    return
            if image is not None:
                self._key, self._state = image[0], None
                if image[1] is not None:
                    try:
                        self._state = self._prepare(image[1])
                    except Exception as exc:  # noqa: BLE001 - a bad image must reach the UI, not kill the thread
                        self.failed.emit(self._key, None, f"cannot prepare the image for enhancement: {exc}")
            if params is not None and self._state is not None:
                try:
                    result = self._render(self._state, params)
                except Exception as exc:  # noqa: BLE001
                    self.failed.emit(self._key, params, f"{params.method} failed: {exc}")
                else:
                    self.renders += 1
                    self.done.emit(self._key, result, params)


class EnhancePreviewer(QObject):
    """Renders enhancement previews and full-resolution results of the current image off-thread.

    Call ``set_image(key, rgb)`` when the shown image changes, then ``request(params)`` on every
    slider move and ``request_full(params)`` when the user stops. Results come back as
    ``preview_ready(key, rgb_uint8, params)`` / ``full_ready(key, rgb_uint8, params)`` on the GUI
    thread, only for the current ``key``. Call ``stop()`` before the window closes.
    """

    preview_ready = Signal(object, object, object)
    full_ready = Signal(object, object, object)
    failed = Signal(object, str)  # key, message

    def __init__(self, parent: QObject | None = None, *, max_width: int = PREVIEW_MAX_WIDTH,
                 cache: EnhancedImageCache | None = None) -> None:
        super().__init__(parent)
        self.max_width = max_width
        self.cache = cache if cache is not None else EnhancedImageCache()
        self._key: Hashable = None
        self._has_image = False
        self._stopped = False
        self._preview = _LatestOnlyWorker(lambda image: PreviewSession(image, max_width=self.max_width),
                                          lambda session, params: session.render(params))
        self._full = _LatestOnlyWorker(_FullResolution, lambda state, params: state.render(params))
        self._threads: list[QThread] = []
        for name, worker in (("enhance-preview", self._preview), ("enhance-full", self._full)):
            thread = QThread()
            thread.setObjectName(name)
            worker.moveToThread(thread)
            self._threads.append(thread)
            thread.start()
        self._preview.done.connect(self._on_preview)
        self._full.done.connect(self._on_full)
        self._preview.failed.connect(self._on_failed)
        self._full.failed.connect(self._on_failed)
        app = QCoreApplication.instance()
        if app is not None:  # a forgotten stop() must not leave threads running at exit
            app.aboutToQuit.connect(self.stop)

    # -- requests (GUI thread) --------------------------------------------------------------------

    @property
    def key(self) -> Hashable:
        """The key of the current image (``None`` when there is none)."""
        return self._key

    def set_image(self, key: Hashable, rgb: np.ndarray | None) -> None:
        """Make ``rgb`` (uint8 RGB) the current image; pending requests are dropped.

        The workers read the image while the caller goes on, so a writeable array is copied: the
        caller may change it afterwards. A read-only array is used as it is, sparing a full-image
        copy on the GUI thread at every switch: those are the arrays of ``ImagePipeline``'s caches,
        which ``ImageLRU`` makes read-only and nobody changes. The preview session is built in the
        worker thread. ``rgb=None`` clears the image.
        """
        self._key, self._has_image = key, rgb is not None
        image = np.array(rgb, copy=True) if rgb is not None and rgb.flags.writeable else rgb
        self._preview.submit_image(key, image)
        self._full.submit_image(key, image)

    def request(self, params: MethodParams) -> None:
        """Render a display-resolution preview; only the latest pending request is kept."""
        if self._has_image and not self._stopped:
            self._preview.submit(params)

    def request_full(self, params: MethodParams) -> None:
        """Compute the full-resolution result (answered at once from the cache when known)."""
        if not self._has_image or self._stopped:
            return
        cached = self.cache.get(self._key, params)
        if cached is not None:
            self.full_ready.emit(self._key, cached, params)
        else:
            self._full.submit(params)

    @property
    def render_count(self) -> int:
        """Previews rendered so far (requests coalesced while a render ran are not counted)."""
        return self._preview.renders

    @property
    def full_render_count(self) -> int:
        return self._full.renders

    def is_running(self) -> bool:
        return any(t.isRunning() for t in self._threads)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Drop pending requests, let a running render finish and end both threads.

        Returns False if a thread did not end within ``timeout_ms``. Requests after ``stop`` are ignored.
        """
        self._stopped = True
        for worker in (self._preview, self._full):
            worker.stop()
        ended = True
        for thread in self._threads:
            thread.quit()
            ended = thread.wait(timeout_ms) and ended
        return ended

    # -- results (queued onto the GUI thread) -----------------------------------------------------

    @Slot(object, object, object)
    def _on_preview(self, key: Hashable, image: np.ndarray, params: MethodParams) -> None:
        if key == self._key and not self._stopped:
            self.preview_ready.emit(key, image, params)

    @Slot(object, object, object)
    def _on_full(self, key: Hashable, image: np.ndarray, params: MethodParams) -> None:
        self.cache.put(key, params, image)  # valid even if stale: going back to that image is instant
        if key == self._key and not self._stopped:
            self.full_ready.emit(key, image, params)

    @Slot(object, object, str)
    def _on_failed(self, key: Hashable, params: MethodParams | None, message: str) -> None:
        if key == self._key and not self._stopped:
            self.failed.emit(key, message)
