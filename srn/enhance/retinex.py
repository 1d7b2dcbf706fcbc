"""Multi-scale Retinex: MSR, MSRCR (Jobson, Rahman & Woodell 1997) and MSRCP (Petro et al. 2014).

Per channel i, with I = pixel value + 1 (so log I is finite on black pixels):

    R_i = Σ_n w_n [log I_i − log(G_σn * I_i)]           multi-scale Retinex
    C_i = β [log(α I_i) − log Σ_j I_j]                  colour restoration
    MSRCR_i = G (C_i · R_i + b)                         then an output stretch (``stretch``)

After a per-channel affine stretch (``balance``, ``auto``), G, b and β cancel out; the
parameter metadata records that, so a GUI offers only sliders that change
the picture. ``RetinexCache`` keeps log Σ I and each scale's log-surround of one image, so
moving one slider recomputes only what it touches.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from srn.enhance import stretch
from srn.enhance.image_input import DEFAULT_MAX_PIXELS, to_channels
from srn.enhance.params import MethodParams, ParamError, ParamSpec, param
from srn.enhance.surround import gaussian_surround

OUTPUT_MODES = ("balance", "auto", "canonical")

SIGMAS = ParamSpec(
    "sigmas", "Surround scales σ (px)", kind="floats", minimum=1.0, maximum=600.0, log_scale=True,
    help="Gaussian surround standard deviations; small scales keep detail, large ones tone",
)
OUTPUT = ParamSpec("output", "Output stretch", kind="choice", choices=OUTPUT_MODES)
LOW_CLIP = ParamSpec(
    "low_clip", "Dark clip (%)", minimum=0.0, maximum=49.9, modes=frozenset({"balance"}),
    help="share of pixels clipped to black per channel",
)
HIGH_CLIP = ParamSpec(
    "high_clip", "Bright clip (%)", minimum=0.0, maximum=49.9, modes=frozenset({"balance"}),
    help="share of pixels clipped to white per channel",
)
GAIN = ParamSpec("gain", "Gain G", minimum=1e-3, maximum=1000.0, log_scale=True, modes=frozenset({"canonical"}))
OFFSET = ParamSpec("offset", "Offset b", minimum=-1000.0, maximum=1000.0, modes=frozenset({"canonical"}))


def _check_retinex(p: _StretchedRetinexParams | MSRCPParams) -> None:
    if p.weights is not None:
        if len(p.weights) != len(p.sigmas):
            raise ParamError(f"{p.method}: weights has {len(p.weights)} values for {len(p.sigmas)} sigmas")
        if any(w < 0 for w in p.weights) or sum(p.weights) <= 0:
            raise ParamError(f"{p.method}: weights must be non-negative with a positive sum, got {p.weights}")
    if p.low_clip + p.high_clip >= 100.0:
        raise ParamError(f"{p.method}: low_clip + high_clip must be < 100 %")


def _weights(p: _StretchedRetinexParams | MSRCPParams) -> tuple[float, ...]:
    if p.weights is None:
        return tuple(1.0 / len(p.sigmas) for _ in p.sigmas)
    total = float(sum(p.weights))
    return tuple(float(w) / total for w in p.weights)


@dataclass(frozen=True)
class _StretchedRetinexParams(MethodParams):
    """Fields shared by MSR and MSRCR: scales, weights, the output stretch and its parameters."""

    mode_field = "output"
    sigmas: tuple[float, ...] = param((15.0, 80.0, 250.0), SIGMAS)
    weights: tuple[float, ...] | None = param(None)
    output: str = param("balance", OUTPUT)
    low_clip: float = param(1.0, LOW_CLIP)
    high_clip: float = param(1.0, HIGH_CLIP)
    gain: float = param(192.0, GAIN)
    offset: float = param(-30.0, OFFSET)

    def validate(self) -> None:
        _check_retinex(self)


@dataclass(frozen=True)
class MSRParams(_StretchedRetinexParams):
    """Multi-scale Retinex without colour restoration."""

    method = "msr"


@dataclass(frozen=True)
class MSRCRParams(_StretchedRetinexParams):
    """Multi-scale Retinex with colour restoration (defaults of the widely used implementations)."""

    method = "msrcr"
    alpha: float = param(
        125.0, ParamSpec("alpha", "Colour restoration α", minimum=1.0, maximum=1000.0, log_scale=True,
                         help="strength of the non-linearity in the colour restoration")
    )
    # β scales C·R uniformly: only the fixed gain/offset output can see it.
    beta: float = param(
        46.0, ParamSpec("beta", "Colour restoration β", minimum=0.01, maximum=500.0, log_scale=True,
                        modes=frozenset({"canonical"}))
    )


@dataclass(frozen=True)
class MSRCPParams(MethodParams):
    """MSR with chromaticity preservation: Retinex on intensity, colour ratios kept (IPOL 2014)."""

    method = "msrcp"
    sigmas: tuple[float, ...] = param((15.0, 80.0, 250.0), SIGMAS)
    weights: tuple[float, ...] | None = param(None)
    low_clip: float = param(1.0, LOW_CLIP)
    high_clip: float = param(1.0, HIGH_CLIP)

    def validate(self) -> None:
        _check_retinex(self)


_PLUS_ONE_LUT = (np.arange(256, dtype=np.float32) + np.float32(1.0)).reshape(1, 256)
_LOG_LUT = np.log(np.arange(256, dtype=np.float64) + 1.0).astype(np.float32).reshape(1, 256)


class RetinexCache:
    """One image's Retinex intermediates, reused across parameter changes (the slider path).

    Works channel by channel (the input is kept as three 2-D arrays, uint8 when it came as
    uint8), so a 12-megapixel photo needs only a few full-size float buffers at a time. Keeps
    ``log Σ_j I_j``, the intensity and, per (σ, channel) key, the log of the Gaussian surround —
    at most ``max_surrounds`` of them, least recently used dropped. Wide surrounds stay at their
    small working resolution and are upsampled while they are summed. ``log I`` is not kept:
    for uint8 it is a table lookup, cheaper than reading it back from memory.
    """

    def __init__(self, image: np.ndarray, exact: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_surrounds: int = 24) -> None:
        self.channels = to_channels(image, max_pixels)
        self.exact = exact
        self._log_sum: np.ndarray | None = None
        self._intensity: np.ndarray | None = None
        self._surrounds: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._max_surrounds = max_surrounds
        self.surround_computations = 0  # for tests and benchmarks: how often a blur really ran

    @property
    def shape(self) -> tuple[int, int]:
        return self.channels[0].shape

    def plus_one(self, channel: int) -> np.ndarray:
        """I_c = value + 1, float32 (H, W), a new array."""
        x = self.channels[channel]
        if x.dtype == np.uint8:
            return cv2.LUT(x, _PLUS_ONE_LUT)
        return x + np.float32(1.0)

    def plus_one_rgb(self) -> np.ndarray:
        """I = value + 1 for all three channels, float32 (H, W, 3), a new array."""
        rgb = cv2.merge(self.channels)
        if rgb.dtype == np.uint8:
            return cv2.LUT(rgb, _PLUS_ONE_LUT)
        rgb += np.float32(1.0)
        return rgb

    def log_channel(self, channel: int, out: np.ndarray | None = None) -> np.ndarray:
        """log I_c, float32 (H, W) (into ``out`` if given)."""
        x = self.channels[channel]
        if x.dtype == np.uint8:
            return cv2.LUT(x, _LOG_LUT, dst=out)
        out = cv2.add(x, 1.0, dst=out, dtype=cv2.CV_32F)
        return cv2.log(out, dst=out)

    def flat(self, channel: int) -> np.ndarray:
        """The input channel on 0..255: what a channel with no contrast left shows."""
        return self.channels[channel].astype(np.float32)

    def is_constant(self, channel: int) -> bool:
        """A constant channel has R ≡ 0 in exact arithmetic; float rounding must not be stretched
        into a picture, so such channels are passed through unchanged."""
        lo, hi, _, _ = cv2.minMaxLoc(self.channels[channel])
        return lo == hi

    def _sum_of(self, rgb: np.ndarray) -> np.ndarray:
        return cv2.transform(rgb, np.ones((1, 3), dtype=np.float32)).reshape(self.shape)

    def log_sum(self) -> np.ndarray:
        """log Σ_j I_j, float32 (H, W)."""
        if self._log_sum is None:
            total = self._sum_of(self.plus_one_rgb())
            self._log_sum = cv2.log(total, dst=total)
        return self._log_sum

    def intensity(self) -> np.ndarray:
        """Mean of the channels of I, float32 (H, W), ≥ 1 (MSRCP's intensity)."""
        if self._intensity is None:
            total = self._sum_of(self.plus_one_rgb())
            total *= np.float32(1.0 / 3.0)
            self._intensity = total
        return self._intensity

    def prepare_surrounds(self, sigmas: tuple[float, ...], channel: int | str) -> None:
        """Compute the missing surrounds of ``sigmas`` in one go.

        Colour channels are done together from one (H, W, 3) float image built once for all
        missing σ (shrinking 3 channels costs OpenCV about what one does, and one buffer
        instead of one per σ keeps a 12-megapixel photo from faulting in fresh memory).
        """
        missing = [float(s) for s in dict.fromkeys(sigmas) if (float(s), channel) not in self._surrounds]
        if not missing:
            return
        if channel == "intensity":
            for sigma in missing:
                self._store((sigma, channel), gaussian_surround(self.intensity(), sigma, exact=self.exact, log=True,
                                                                upsample=False))
                self.surround_computations += 1
            return
        rgb = self.plus_one_rgb()
        if self._log_sum is None:  # same buffer, nearly free now; MSRCR needs it next
            total = self._sum_of(rgb)
            self._log_sum = cv2.log(total, dst=total)
        for sigma in missing:
            result = gaussian_surround(rgb, sigma, exact=self.exact, log=True, upsample=False)
            for c, part in enumerate(cv2.split(result)):
                self._store((sigma, c), part)
            self.surround_computations += 1

    def log_surround(self, sigma: float, channel: int | str) -> np.ndarray:
        """log(G_σ * I) of channel 0–2 or ``"intensity"``, at working resolution (full or small)."""
        key = (float(sigma), channel)
        self.prepare_surrounds((sigma,), channel)
        self._surrounds.move_to_end(key)
        return self._surrounds[key]

    def _store(self, key: tuple, value: np.ndarray) -> None:
        self._surrounds[key] = value
        while len(self._surrounds) > self._max_surrounds:
            self._surrounds.popitem(last=False)

    def msr(self, sigmas: tuple[float, ...], weights: tuple[float, ...], channel: int | str,
            scratch: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """R = Σ w_n (log I − log G_σn * I) = log I − Σ w_n log(G_σn * I) of one channel.

        Float32 (H, W), written into ``out`` if given; ``scratch`` is the upsampling buffer.
        """
        self.prepare_surrounds(sigmas, channel)
        if channel == "intensity":
            acc = cv2.log(self.intensity(), dst=out)
        else:
            acc = self.log_channel(cast(int, channel), out=out)  # 0–2 when not "intensity"
        h, w = self.shape
        for sigma, weight in zip(sigmas, weights):
            surround = self.log_surround(sigma, channel)
            if surround.shape != (h, w):
                surround = cv2.resize(surround, (w, h), dst=scratch, interpolation=cv2.INTER_LINEAR)
            cv2.scaleAdd(surround, -float(weight), acc, dst=acc)
        return acc

    def colour_restoration(self, channel: int, alpha: float, out: np.ndarray | None = None) -> np.ndarray:
        """C_c / β = log α + log I_c − log Σ_j I_j, float32 (H, W) (into ``out`` if given)."""
        restoration = cv2.subtract(self.log_channel(channel, out=out), self.log_sum(), dst=out)
        restoration += np.float32(math.log(alpha))
        return restoration


def _stretch(values: np.ndarray, p: _StretchedRetinexParams, flat) -> np.ndarray:
    mode = getattr(p, "output", "balance")
    if mode == "balance":
        return stretch.balance(values, p.low_clip, p.high_clip, flat)
    if mode == "auto":
        return stretch.auto(values, flat)
    return stretch.canonical(values, p.gain, p.offset)


def _per_channel(cache: RetinexCache, channel_fn) -> np.ndarray:
    """Run ``channel_fn(channel, scratch, out) -> float32 0..255`` for R, G, B; merge and round.

    Two full-size float buffers serve all three channels. Constant input channels (R ≡ 0:
    nothing to enhance) are passed through unchanged.
    """
    scratch = np.empty(cache.shape, dtype=np.float32)
    out = np.empty(cache.shape, dtype=np.float32)
    channels = []
    for c in range(3):
        values = cache.flat(c) if cache.is_constant(c) else channel_fn(c, scratch, out)
        channels.append(stretch.to_uint8(values))
    return cv2.merge(channels)


def msr(cache: RetinexCache, p: MSRParams) -> np.ndarray:
    w = _weights(p)

    def channel(c: int, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
        return _stretch(cache.msr(p.sigmas, w, c, scratch, out), p, lambda: cache.flat(c))

    return _per_channel(cache, channel)


def _beta_scale(p: MSRCRParams) -> float:
    """β, where it can show: a per-channel stretch divides any uniform scale out again, so in
    ``balance`` and ``auto`` modes β is left out rather than multiplied in and rounded away."""
    return float(p.beta) if p.output == "canonical" else 1.0


def msrcr(cache: RetinexCache, p: MSRCRParams) -> np.ndarray:
    """MSRCR; in ``auto`` mode the P&S clip points are found on R (the rule's scale), before C·R."""
    w = _weights(p)

    def channel(c: int, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
        r = cache.msr(p.sigmas, w, c, scratch, out)
        if p.output == "auto":
            stretch.auto_clip(r)
        restoration = cache.colour_restoration(c, p.alpha, out=scratch)
        values = cv2.multiply(restoration, r, dst=r, scale=_beta_scale(p))
        if p.output == "auto":
            return stretch.minmax(values, lambda: cache.flat(c))
        return _stretch(values, p, lambda: cache.flat(c))

    return _per_channel(cache, channel)


def msrcp(cache: RetinexCache, p: MSRCPParams) -> np.ndarray:
    """IPOL MSRCP: stretch the intensity's MSR, then scale each pixel's RGB by the intensity gain."""
    intensity = cache.intensity()
    lo, hi, _, _ = cv2.minMaxLoc(intensity)
    if lo == hi:  # constant intensity: R ≡ 0, nothing to enhance (see RetinexCache.is_constant)
        return cv2.merge([stretch.to_uint8(cache.flat(c)) for c in range(3)])
    r = cache.msr(p.sigmas, _weights(p), "intensity")
    stretched = stretch.balance(r, p.low_clip, p.high_clip, lambda: intensity - np.float32(1.0))
    stretched += np.float32(1.0)
    # Gain A = min(256 / max_c I_c, I' / I): the largest gain that keeps every channel in range.
    top = cache.plus_one(0)
    for c in (1, 2):
        cv2.max(top, cache.plus_one(c), dst=top)
    gain = cv2.divide(stretched, intensity, dst=stretched)
    cv2.min(gain, cv2.divide(np.float32(256.0), top, dst=top), dst=gain)

    def channel(c: int, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
        result = cv2.multiply(cache.plus_one(c), gain, dst=out)
        result -= np.float32(1.0)
        return np.clip(result, 0.0, 255.0, out=result)

    return _per_channel(cache, channel)
