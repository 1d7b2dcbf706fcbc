"""Gaussian surrounds (the illumination estimate of Retinex), exact and fast.

The exact surround is a full-resolution Gaussian blur; with σ = 250 that takes tens of seconds
on a 2-core machine. The fast surround uses the fact that a wide Gaussian has no fine detail:
shrink the image by f ≈ σ/6 with area averaging (itself a box filter of variance (f²−1)/12 in
output pixels), blur the small image with the remaining variance, σ' = √(σ² − (f²−1)/12) / f,
and upsample bilinearly. ``BORDER_REFLECT`` (edge pixel repeated) is used at both sizes: it is
the only border for which shrinking and blurring commute closely (REFLECT_101 costs ~10× the
error). Both paths share one kernel definition so the torch path can reproduce them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FAST_MIN_SIGMA = 9.0  # below this (shrink factor < 1.5) the full-resolution blur is used
SHRINK_PER_SIGMA = 6.0  # f ≈ σ / 6 keeps σ' ≈ 6 px on the small image


def kernel_radius(sigma: float) -> int:
    """Half-width of the truncated Gaussian kernel (4σ, as OpenCV does for float images)."""
    return max(1, int(math.ceil(4.0 * sigma)))


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel of radius ``kernel_radius(sigma)``, float64."""
    r = kernel_radius(sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(image: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Separable Gaussian blur with reflected borders (float32).

    When the kernel is longer than the image the reflection folds more than once; OpenCV does
    not do that, and padding out to the kernel length costs O(kernel²). The banded-matrix form
    of ``exact_blur`` handles it in O(H·W·(H+W)), which is tiny for such small images.
    """
    kx = gaussian_kernel(sigma_x).astype(np.float32)
    ky = gaussian_kernel(sigma_y).astype(np.float32)
    h, w = image.shape[:2]
    if len(kx) // 2 < w and len(ky) // 2 < h:
        return cv2.sepFilter2D(image, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_REFLECT)
    return exact_blur(image, sigma_x, sigma_y).astype(np.float32)


def reflect_index(index: np.ndarray, n: int) -> np.ndarray:
    """Map indices outside ``0..n-1`` back inside as BORDER_REFLECT does (``cba|abcd|dcb``), any distance."""
    period = np.mod(index, 2 * n)
    return np.where(period < n, period, 2 * n - 1 - period)


def convolution_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) float64 matrix M with ``M @ x`` = the reflected-border Gaussian blur of a length-n signal."""
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    rows = np.repeat(np.arange(n), len(k))
    cols = reflect_index(rows + np.tile(np.arange(-r, r + 1), n), n)
    m = np.zeros((n, n), dtype=np.float64)
    np.add.at(m, (rows, cols), np.tile(k, n))
    return m


def exact_blur(image: np.ndarray, sigma: float, sigma_y: float | None = None) -> np.ndarray:
    """The reference: full-resolution, float64 Gaussian blur as two matrix products
    (``sigma`` along x, ``sigma_y`` along y, default the same).

    Mathematically the same truncated kernel and border as ``_blur``, but a dense matrix product
    costs O(H·W·(H+W)) regardless of σ, where a 2001-tap direct filter (σ = 250) takes minutes.
    """
    x = np.asarray(image, dtype=np.float64)
    h, w = x.shape[:2]
    rest = x.shape[2:]
    my, mx = convolution_matrix(h, sigma if sigma_y is None else sigma_y), convolution_matrix(w, sigma)
    flat = x.reshape(h, w, -1)
    out = np.einsum("ij,jkc->ikc", my, flat, optimize=True)
    out = np.einsum("kl,ilc->ikc", mx, out, optimize=True)
    return out.reshape(h, w, *rest)


def shrink_plan(sigma: float, height: int, width: int) -> tuple[int, int, float, float] | None:
    """(small_h, small_w, σ'_y, σ'_x) for the fast path, or ``None`` when the exact blur is as cheap."""
    if sigma < FAST_MIN_SIGMA:
        return None
    f = sigma / SHRINK_PER_SIGMA
    small_h, small_w = max(1, round(height / f)), max(1, round(width / f))
    fy, fx = height / small_h, width / small_w
    if fy < 1.5 and fx < 1.5:
        return None

    def reduced(fac: float) -> float:
        return math.sqrt(max(sigma * sigma - (fac * fac - 1.0) / 12.0, 0.25)) / fac

    return small_h, small_w, reduced(fy), reduced(fx)


def gaussian_surround(
    image: np.ndarray, sigma: float, exact: bool = False, log: bool = False, upsample: bool = True
) -> np.ndarray:
    """Gaussian blur of a float32 (H, W) or (H, W, C) image with standard deviation ``sigma`` px.

    ``log=True`` returns the natural log of the blur (values must be ≥ 1, as Retinex's I + 1
    are); the fast path then takes the log on the small image before upsampling, which saves
    a full-resolution log and is as accurate (the surround is smooth). ``upsample=False``
    returns the fast path's small image as it is (the caller upsamples it with
    ``cv2.resize(..., INTER_LINEAR)`` when it needs it, without keeping a full-size copy).
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    image = np.ascontiguousarray(image, dtype=np.float32)
    h, w = image.shape[:2]
    def finish(blurred: np.ndarray) -> np.ndarray:
        if not log:
            return blurred
        return cv2.log(np.maximum(blurred, np.float32(1.0))).reshape(blurred.shape)

    if exact:
        return finish(exact_blur(image, sigma).astype(np.float32))
    plan = shrink_plan(sigma, h, w)
    if plan is None:
        return finish(_blur(image, sigma, sigma)).reshape(image.shape)
    small_h, small_w, sigma_y, sigma_x = plan
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA)
    small = finish(_blur(small, sigma_x, sigma_y).reshape(small_h, small_w, *image.shape[2:]))
    if not upsample:
        return small
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(image.shape)
