"""LIME (Guo, Li and Ling, TIP 2017): estimate the illumination, smooth it keeping structure, divide.

1. The initial illumination ``T̂`` is the maximum over R, G, B of each pixel (in [0, 1]).
2. ``T`` is the structure-aware refinement of the paper's sped-up solver (Section III-C): the
   minimiser of ``‖T − T̂‖² + α Σ_d Σ_x W̃_d(x) (∇_d T(x))²`` over horizontal and vertical forward
   differences, with the paper's third weighting strategy
   ``W̃_d = 1 / ((|G_σ ∗ ∇_d T̂| + ε) (|∇_d T̂| + ε))`` (``G_σ`` a Gaussian): strong smoothing inside
   flat regions, little across edges. It is one sparse symmetric linear system,
   ``(I + α Σ_d D_dᵀ diag(W̃_d) D_d) t = t̂``, solved directly by ``scipy.sparse.linalg.spsolve``.
3. ``R = I / T^γ`` per channel, clipped to [0, 1]. BM3D-style denoising afterwards is not done.

Defaults: α = 0.15, σ = 2 px, γ = 0.8, ε = 10⁻³ (γ is the paper's; α and σ are the values its
experiments and the common reimplementations use). The direct solve of a 1080×720 map takes
seconds on 2 cores, so by default the map is solved at half resolution (``scale``) and resized
back with bilinear interpolation; the refined map is smooth wherever it is not an edge, so the
result changes little (``scale = 1`` solves at full resolution; ``benchmarks/enhance_bench.py``
prints both times). ``σ`` is in pixels of the full image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from srn.enhance.image_input import to_float_rgb
from srn.enhance.params import MethodParams, ParamSpec, param

EPS = 1e-3
"""ε of the weights and the lowest illumination divided by."""


@dataclass(frozen=True)
class LIMEParams(MethodParams):
    """Low-light enhancement by a structure-aware illumination map (LIME)."""

    method = "lime"
    alpha: float = param(0.15, ParamSpec("alpha", "Smoothness α", minimum=0.001, maximum=10.0, log_scale=True,
                                         help="how strongly the illumination map is smoothed"))
    gamma: float = param(0.8, ParamSpec("gamma", "Illumination gamma γ", minimum=0.1, maximum=1.5,
                                        help="R = I / T^γ: lower keeps more of the darkness"))
    sigma: float = param(2.0, ParamSpec("sigma", "Weight blur σ (px)", minimum=0.5, maximum=10.0, log_scale=True,
                                        help="Gaussian of the weights: how far an edge protects its side"))
    scale: float = param(0.5, ParamSpec("scale", "Solve at scale", minimum=0.1, maximum=1.0,
                                        help="the map is solved at this fraction of the image size (1 = full)"))


def _forward_differences(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(∇_h t, ∇_v t)``: next pixel minus this one, 0 in the last column / row."""
    gh = np.zeros_like(t)
    gh[:, :-1] = t[:, 1:] - t[:, :-1]
    gv = np.zeros_like(t)
    gv[:-1, :] = t[1:, :] - t[:-1, :]
    return gh, gv


def smoothness_weights(t_hat: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``(W̃_h, W̃_v)`` of the third strategy, 0 where a difference leaves the image."""
    out = []
    for g in _forward_differences(t_hat):
        blurred = cv2.GaussianBlur(g, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        out.append(1.0 / ((np.abs(blurred) + EPS) * (np.abs(g) + EPS)))
    wh, wv = out
    wh[:, -1] = 0.0
    wv[-1, :] = 0.0
    return wh, wv


def refine_illumination(t_hat: np.ndarray, alpha: float, sigma: float) -> np.ndarray:
    """The sped-up solver's ``T`` for a float (H, W) ``t_hat``: one sparse direct solve."""
    h, w = t_hat.shape
    t_hat = t_hat.astype(np.float64)
    wh, wv = (alpha * x.ravel() for x in smoothness_weights(t_hat, sigma))
    west = np.zeros_like(wh)  # the weight of the difference to the left neighbour
    west[1:] = wh[:-1]
    west[::w] = 0.0
    north = np.zeros_like(wv)
    north[w:] = wv[:-w]
    diagonal = 1.0 + wh + west + wv + north
    matrix = scipy.sparse.diags([diagonal, -wh[:-1], -wh[:-1], -wv[:-w], -wv[:-w]], [0, 1, -1, w, -w],
                                shape=(h * w, h * w), format="csc")
    solved = scipy.sparse.linalg.spsolve(matrix, t_hat.ravel(), permc_spec="MMD_AT_PLUS_A")
    return solved.reshape(h, w)


def illumination_map(rgb01: np.ndarray, p: LIMEParams) -> np.ndarray:
    """``T`` (H, W) float32 in [ε, 1] of an RGB image in [0, 1], solved at ``p.scale``."""
    t_hat = rgb01.max(axis=2)
    h, w = t_hat.shape
    small = (max(2, round(w * p.scale)), max(2, round(h * p.scale)))
    if p.scale < 1.0 and small[0] < w and small[1] < h:
        solved = refine_illumination(cv2.resize(t_hat, small, interpolation=cv2.INTER_AREA), p.alpha,
                                     max(p.sigma * p.scale, 0.3))
        t = cv2.resize(solved.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        t = refine_illumination(t_hat, p.alpha, p.sigma).astype(np.float32)
    return np.clip(t, EPS, 1.0)


def lime(image: np.ndarray, p: LIMEParams, max_pixels: int | None = None) -> np.ndarray:
    rgb = to_float_rgb(image, *([max_pixels] if max_pixels else [])) * np.float32(1.0 / 255.0)
    t = illumination_map(np.ascontiguousarray(rgb, dtype=np.float32), p)
    r = np.clip(rgb / (t ** np.float32(p.gamma))[:, :, None], 0.0, 1.0)
    return np.clip(np.rint(r * 255.0), 0, 255).astype(np.uint8)
