"""Where the review window gets its pictures: decoded originals, live and full enhanced results.

Bundles the three things that make switching images and moving sliders fast: a byte-bounded
cache of decoded originals, the ``EnhancePreviewer`` (live previews, full resolution in the
background, its own byte-bounded cache) and the ``NeighbourPrefetcher`` that fills both caches
for the images likely to be opened next. The window asks for an image and gets it from memory
when it can; everything slow happens off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject

from app.jobs.enhance_job import DEFAULT_CACHE_BYTES, EnhancedImageCache, EnhancePreviewer
from app.jobs.image_cache import ImageLRU
from app.jobs.prefetch import NeighbourPrefetcher, decode, file_key
from srn.enhance.params import MethodParams

ORIGINALS_BUDGET_BYTES = 256 * 1024 * 1024
"""About 110 decoded 1080×720 images."""


class ImagePipeline(QObject):
    """``open(key, path)`` → the decoded image and, if cached, its enhanced result for ``params``.

    Cache keys are ``((generation, key), mtime_ns, size)`` (``file_key``): ``clear()`` starts a
    new generation, so a render or prefetch still running for the previous project can only add
    entries nobody will ask for. ``shown_key(previewer_key)`` gives back the caller's key.

    ``previewer`` renders what is not cached (connect to its ``preview_ready``/``full_ready``);
    ``prefetch(items, params)`` warms the caches for neighbours; ``clear()`` forgets everything
    (a different project reuses image ids); ``stop()`` ends the threads.
    """

    def __init__(self, parent: QObject | None = None, *, originals_budget: int = ORIGINALS_BUDGET_BYTES,
                 enhanced_budget: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(parent)
        self.originals = ImageLRU(originals_budget)
        self.enhanced = EnhancedImageCache(enhanced_budget)
        self.previewer = EnhancePreviewer(self, cache=self.enhanced)
        self.prefetcher = NeighbourPrefetcher(self.originals, self.enhanced, self)
        self._generation = 0

    def _file_key(self, key: Hashable, path: Path) -> tuple:
        return file_key((self._generation, key), path)

    @staticmethod
    def shown_key(previewer_key) -> Hashable:
        """The caller's key inside a previewer/cache key (``None`` for none)."""
        return None if previewer_key is None else previewer_key[0][1]

    def open(self, key: Hashable, path: Path, params: MethodParams) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode (or take from the cache) the image, make it the previewer's current image.

        Raises ``srn.imageio.ImageReadError`` / ``OSError`` for a file that cannot be shown.
        When the enhanced result is not cached, a preview and a full render are requested.
        """
        cache_key = self._file_key(key, path)
        rgb = self.originals.get(cache_key)
        if rgb is None:
            rgb = decode(path)
            self.originals.put(cache_key, rgb)
        enhanced = self.enhanced.get(cache_key, params)
        self.previewer.set_image(cache_key, rgb)
        if enhanced is None:
            self.previewer.request(params)
            self.previewer.request_full(params)
        return rgb, enhanced

    def cached(self, key: Hashable, path: Path, params: MethodParams) -> tuple[np.ndarray | None, np.ndarray | None]:
        """What the caches hold for this image file now: (original, enhanced for ``params``)."""
        cache_key = self._file_key(key, path)
        return self.originals.get(cache_key), self.enhanced.get(cache_key, params)

    def close_image(self) -> None:
        self.previewer.set_image(None, None)

    def prefetch(self, items: Sequence[tuple[Hashable, Path]], params: MethodParams) -> None:
        self.prefetcher.prefetch([((self._generation, key), path) for key, path in items], params)

    def clear(self) -> None:
        self._generation += 1
        self.prefetcher.prefetch([], None)
        self.originals.clear()
        self.enhanced.clear()

    def is_running(self) -> bool:
        return self.previewer.is_running() or self.prefetcher.is_running()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        ended = self.prefetcher.stop(timeout_ms)
        return self.previewer.stop(timeout_ms) and ended
