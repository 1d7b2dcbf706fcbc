"""Physically motivated low-light degradation: a day photo as a cheap camera would record it at night.

The steps follow the image formation pipeline rather than a darkening filter, because detectors
trained on the result must face the same statistics as on DARK FACE:

1. undo the sRGB transfer curve (work in linear light, where exposure is a multiplication);
2. normalise the scene to a mid-grey mean (the day camera's auto-exposure), then cut the
   exposure 8–40× (night);
3. a per-channel colour cast (sodium lamps are orange, LEDs and moonlight blue);
4. Poisson–Gaussian sensor noise: photon shot noise, whose relative strength grows as light
   falls, plus read noise;
5. re-apply the sRGB curve, quantise to 8 bit, optionally JPEG-compress.

With the defaults the mean brightness of the result lies in DARK FACE's range (about 5–40 of 255).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB-encoded values (IEC 61966-2-1)."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


@dataclass(frozen=True)
class LowLightParams:
    """Ranges the degradation samples from; each image draws its own values."""

    exposure: tuple[float, float] = (8.0, 40.0)  # exposure cut, sampled log-uniformly
    scene_mid_grey: float = 0.18  # linear mean the day image is normalised to before the cut
    max_scene_gain: float = 4.0  # limit of that normalisation (very dark photos stay dark)
    cast_sigma: float = 0.12  # spread of the per-channel log gains
    full_well: tuple[float, float] = (400.0, 4000.0)  # photons at linear 1.0, log-uniform
    read_noise: tuple[float, float] = (0.0005, 0.002)  # read-noise std in linear units
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)

    def __post_init__(self) -> None:
        lo, hi = self.exposure
        if not 1.0 <= lo <= hi:
            raise ValueError(f"exposure range must satisfy 1 <= low <= high, got {self.exposure}")
        if not 0.0 <= self.jpeg_probability <= 1.0:
            raise ValueError(f"jpeg_probability must be in [0, 1], got {self.jpeg_probability}")
        if not (1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100):
            raise ValueError(f"jpeg_quality must satisfy 1 <= low <= high <= 100, got {self.jpeg_quality}")
        if self.full_well[0] <= 0 or self.full_well[0] > self.full_well[1]:
            raise ValueError(f"full_well must be a positive range, got {self.full_well}")


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def degrade(image: np.ndarray, rng: np.random.Generator,
            params: LowLightParams | None = None) -> tuple[np.ndarray, dict]:
    """Turn an (H, W, 3) uint8 RGB day image into a night image; returns it and the drawn values."""
    p = params or LowLightParams()
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} dtype {image.dtype}")
    linear = srgb_to_linear(image.astype(np.float32) / 255.0)

    scene_gain = min(p.scene_mid_grey / max(float(linear.mean()), 1e-6), p.max_scene_gain)
    exposure = _log_uniform(rng, p.exposure)
    cast = np.exp(rng.normal([0.08, 0.0, -0.08], p.cast_sigma)).astype(np.float32)
    signal = linear * np.float32(scene_gain / exposure) * cast

    full_well = _log_uniform(rng, p.full_well)
    read_noise = float(rng.uniform(*p.read_noise))
    photons = rng.poisson(np.clip(signal, 0.0, 1.0) * full_well).astype(np.float32)
    noisy = photons / np.float32(full_well) + rng.normal(0.0, read_noise, size=signal.shape).astype(np.float32)

    night = np.clip(np.rint(linear_to_srgb(noisy) * 255.0), 0, 255).astype(np.uint8)
    jpeg_quality = None
    if rng.random() < p.jpeg_probability:
        jpeg_quality = int(rng.integers(p.jpeg_quality[0], p.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", night[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 array
            raise RuntimeError("JPEG encoding failed")
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert decoded is not None  # the JPEG just encoded
        night = decoded[:, :, ::-1].copy()

    info = {
        "scene_gain": round(scene_gain, 4),
        "exposure": round(exposure, 3),
        "cast": [round(float(c), 4) for c in cast],
        "full_well": round(full_well, 1),
        "read_noise": round(read_noise, 6),
        "jpeg_quality": jpeg_quality,
        "mean_brightness": round(float(night.mean()), 3),
    }
    return night, info


def params_dict(params: LowLightParams) -> dict:
    """JSON-friendly view of the parameters (for the dataset manifest)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(params).items()}
