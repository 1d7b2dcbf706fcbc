"""Output stretches: how a Retinex output (log domain, unbounded) becomes an 8-bit picture.

Every function works on one float32 channel (H, W) in place: the pipeline runs channel by
channel so a 12-megapixel photo never needs more than a few full-size float buffers.

* ``balance``: simplest colour balance (IPOL, Petro, Sbert & Morel 2014): per channel, clip the
  lowest ``low`` % and highest ``high`` % of the pixels and stretch linearly to 0–255.
  Percentiles come from a fine histogram (interpolated inside the bin), not a sort.
* ``auto``: the automated clipping of Parthasarathy & Sankaran (NCC 2012) in the widely copied
  form, which works on the Retinex output R (MSR, log units): per channel, histogram of
  ``int(100·x)`` (truncation toward zero, so the zero bin is twice as wide); walking outwards
  from zero over the non-empty bins, the first bin on each side
  whose count is below 10 % of the zero bin's count is the clip point (the extreme bin when no
  bin qualifies). When no pixel falls in the zero bin there is no reference count and the
  channel is stretched between its minimum and maximum. The clipped channel is then stretched
  from its minimum to its maximum. The rule is a step function of the data: a value that moves
  across a bin edge can move a clip point by 0.01 and the output by a few grey levels.
* ``canonical``: a fixed gain and offset, ``G·(x + b)``, clamped to 0–255.

A channel with no contrast left (all pixels equal after clipping) has nothing to stretch: it
takes the caller's ``flat`` fallback (the input channel, float 0–255), so an all-black image stays black and
an all-white one white.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

HIST_BINS = 4096

Flat = Callable[[], np.ndarray]  # the input channel on 0..255, asked for only when needed


def affine(x: np.ndarray, lo: float, hi: float, flat: Flat | None) -> np.ndarray:
    """Map ``lo..hi`` onto 0..255 and clamp, in place in the float32 channel ``x`` (a temporary
    the caller owns); with ``hi <= lo`` (no contrast) the result is ``flat()``."""
    if not hi - lo > 1e-12:
        assert flat is not None  # only canonical() passes None, with a span 255 / gain far above 1e-12
        return np.clip(flat(), 0.0, 255.0).astype(np.float32)
    scale = 255.0 / (hi - lo)
    x = cv2.addWeighted(x, scale, x, 0.0, -lo * scale, dst=x)
    np.clip(x, 0.0, 255.0, out=x)
    return x


def to_uint8(y: np.ndarray) -> np.ndarray:
    """Round float values already in 0..255 to uint8 (half up)."""
    y += np.float32(0.5)
    return y.astype(np.uint8)


def histogram_percentiles(channel: np.ndarray, fractions: tuple[float, float],
                          bins: int = HIST_BINS) -> tuple[float, float]:
    """Values below which ``fractions[0]`` and ``fractions[1]`` of the pixels lie (histogram, interpolated)."""
    lo, hi, _, _ = cv2.minMaxLoc(channel)
    if hi <= lo:
        return lo, hi
    hist = cv2.calcHist([channel], [0], None, [bins], [lo, hi + (hi - lo) * 1e-6]).ravel().astype(np.float64)
    cum = np.cumsum(hist)
    width = (hi - lo) * (1 + 1e-6) / bins
    out = []
    for frac in fractions:
        target = frac * cum[-1]
        b = min(int(np.searchsorted(cum, target, side="left")), bins - 1)
        before = cum[b - 1] if b > 0 else 0.0
        inside = (target - before) / hist[b] if hist[b] > 0 else 0.0
        out.append(lo + (b + inside) * width)
    return out[0], out[1]


def balance_clip_points(channel: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """Values below which ``low`` % and above which ``high`` % of the channel's pixels lie."""
    return histogram_percentiles(channel, (low / 100.0, 1.0 - high / 100.0))


def auto_clip_points(channel: np.ndarray) -> tuple[float, float]:
    """Parthasarathy–Sankaran clip points of one channel (see the module docstring)."""
    bins = (channel * np.float32(100.0)).astype(np.int32)  # truncation toward zero, as int() does
    vmin = int(bins.min())
    counts = np.bincount((bins - vmin).ravel())
    values = np.flatnonzero(counts) + vmin  # non-empty bins only, ascending
    nonzero_counts = counts[values - vmin]
    zero = counts[-vmin] if 0 <= -vmin < len(counts) else 0
    if zero == 0:
        return float(channel.min()), float(channel.max())
    rare = nonzero_counts < 0.1 * zero
    neg = np.flatnonzero(rare & (values < 0))
    pos = np.flatnonzero(rare & (values > 0))
    low = values[neg[-1]] if len(neg) else values[0]
    high = values[pos[0]] if len(pos) else values[-1]
    return low / 100.0, high / 100.0


def auto_clip(channel: np.ndarray) -> np.ndarray:
    """Clip a float32 channel in place at its ``auto_clip_points``."""
    low, high = auto_clip_points(channel)
    np.clip(channel, low, high, out=channel)
    return channel


def minmax(channel: np.ndarray, flat: Flat) -> np.ndarray:
    """Stretch a channel from its minimum to its maximum onto 0..255 (float32, in place)."""
    lo, hi, _, _ = cv2.minMaxLoc(channel)
    return affine(channel, lo, hi, flat)


def balance(channel: np.ndarray, low: float, high: float, flat: Flat) -> np.ndarray:
    """Simplest colour balance of one float32 channel: clip ``low`` % / ``high`` %, stretch (in place)."""
    lo, hi = balance_clip_points(channel, low, high)
    return affine(channel, lo, hi, flat)


def auto(channel: np.ndarray, flat: Flat) -> np.ndarray:
    """Automated MSRCR stretch of one channel: clip at ``auto_clip_points``, then min–max."""
    return minmax(auto_clip(channel), flat)


def canonical(channel: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """``gain·(x + offset)`` clamped to 0..255 (IPOL's canonical gain/offset), in place."""
    lo = -offset
    return affine(channel, lo, lo + 255.0 / gain, None)
