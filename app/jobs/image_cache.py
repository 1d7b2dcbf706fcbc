"""A least-recently-used store of images bounded by bytes, safe to share between threads.

Decoded originals and enhanced results of recently shown (or prefetched) images live here, so
going back and forth between neighbours is instant, while a day of browsing cannot grow memory
without bound: the budget is in bytes, not entries, because a 1080×720 RGB image is 2.3 MB and a
4K one 25 MB.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np


class ImageLRU:
    """``key → array`` with least-recently-used eviction once the arrays exceed ``budget_bytes``.

    Stored arrays are made read-only: the same array is handed to every caller that asks. An
    array larger than the whole budget is not kept.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = int(budget_bytes)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            image = self._items.get(key)
            if image is not None:
                self._items.move_to_end(key)
            return image

    def put(self, key: Hashable, image: np.ndarray) -> None:
        if image.nbytes > self.budget_bytes:
            return
        image.setflags(write=False)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = image
            self._bytes += image.nbytes
            while self._bytes > self.budget_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def discard_where(self, predicate: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._items if predicate(k)]:
                self._bytes -= self._items.pop(key).nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items
