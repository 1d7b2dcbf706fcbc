"""Timing helpers the benchmark scripts share (imported as ``timing``: scripts run from the root)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed_runs(fn: Callable[[], object], repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` calls of ``fn``, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` warm calls: what a benchmark row reports."""
    return statistics.median(timed_runs(fn, repeat))


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` warm calls: for an attainable peak."""
    return min(timed_runs(fn, repeat))
