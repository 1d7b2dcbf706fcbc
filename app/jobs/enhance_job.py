"""Enhancement off the GUI thread: live previews while a slider moves, full resolution on release.

A slider emits far more changes per second than MSRCR can render, and a queue of stale renders
makes the picture lag behind the hand. Each worker therefore keeps only the *latest* request:
while one render runs, newer requests overwrite the pending one, so the preview always shows the
newest parameters as soon as the previous render ends. Previews (``PreviewSession``, display
resolution) and full-resolution renders run in two ``ServiceThread``s, so a second-long full render never
blocks the next slider move. Results for an image that is no longer current are dropped.
``EnhancedImageCache`` keeps recent full-resolution results, so going back to an image is instant.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from app.jobs.image_cache import ImageLRU
from app.jobs.worker_thread import RequestWorker, ServiceThread
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


class _LatestOnlyWorker(RequestWorker):
    """Renders the most recent request for the most recent image, in its own thread.

    ``submit_image`` and ``submit`` may be called from any thread: they only replace the pending
    image or parameters, so requests that arrive during a render collapse into one.
    """

    done = Signal(object, object, object)  # key, image, params
    failed = Signal(object, object, str)  # key, params (None: while preparing the image), message

    def __init__(self, prepare: Callable[[np.ndarray], Any], render: Callable[[Any, MethodParams], np.ndarray]):
        super().__init__()
        self._prepare, self._render = prepare, render
        self._pending_image: tuple[Hashable, np.ndarray | None] | None = None
        self._pending_params: MethodParams | None = None
        self._key: Hashable = None
        self._state: Any = None
        self.renders = 0

    def submit_image(self, key: Hashable, image: np.ndarray | None) -> None:
        with self._lock:
            self._pending_image, self._pending_params = (key, image), None
            self._post()

    def submit(self, params: MethodParams) -> None:
        with self._lock:
            self._pending_params = params
            self._post()

    def _drop_pending(self) -> None:
        self._pending_image = self._pending_params = None

    def _take(self):
        image, params = self._pending_image, self._pending_params
        self._drop_pending()
        return None if image is None and params is None else (image, params)

    def _serve(self, request) -> None:
        image, params = request
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
        self._preview.done.connect(self._on_preview)
        self._full.done.connect(self._on_full)
        self._preview.failed.connect(self._on_failed)
        self._full.failed.connect(self._on_failed)
        # not parented: Qt must never delete a thread that still runs; stop() (or quitting) ends them
        self._threads = [ServiceThread(self._preview, "enhance-preview"), ServiceThread(self._full, "enhance-full")]

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
        return any(t.is_running() for t in self._threads)

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Drop pending requests, let a running render finish and end both threads.

        Returns False if a thread did not end within ``timeout_ms``. Requests after ``stop`` are ignored.
        """
        self._stopped = True
        for thread in self._threads:
            thread.worker.cancel()  # both drop what is pending before either is waited for
        return all([thread.stop(timeout_ms) for thread in self._threads])

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
