"""LIME: the refined map is the minimiser of the paper's energy (checked against a dense solve of
the energy written out term by term), edges survive the smoothing, ``R = I / T^γ``, and solving at
half resolution stays close to the full-resolution solve."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from srn.enhance import LIMEParams, ParamError, enhance
from srn.enhance.lime import EPS, refine_illumination, smoothness_weights


def _dense_minimiser(t_hat: np.ndarray, alpha: float, wh: np.ndarray, wv: np.ndarray) -> np.ndarray:
    """argmin_t Σ (t − t̂)² + α Σ w_h (t[x+1] − t[x])² + α Σ w_v (t[y+1] − t[y])², from the normal
    equations assembled difference by difference."""
    h, w = t_hat.shape
    n = h * w
    a = np.eye(n)
    index = np.arange(n).reshape(h, w)
    for weights, pairs in ((wh, [(index[i, j], index[i, j + 1], i, j) for i in range(h) for j in range(w - 1)]),
                           (wv, [(index[i, j], index[i + 1, j], i, j) for i in range(h - 1) for j in range(w)])):
        for p, q, i, j in pairs:
            k = alpha * weights[i, j]
            a[p, p] += k
            a[q, q] += k
            a[p, q] -= k
            a[q, p] -= k
    return np.linalg.solve(a, t_hat.ravel()).reshape(h, w)


def test_the_sparse_solve_is_the_minimiser_of_the_papers_energy():
    rng = np.random.default_rng(3)
    t_hat = np.clip(rng.uniform(0.02, 0.3, (9, 13)) + np.where(np.arange(13) > 6, 0.5, 0.0), 0, 1)
    wh, wv = smoothness_weights(t_hat, 2.0)
    got = refine_illumination(t_hat, 0.15, 2.0)
    assert np.allclose(got, _dense_minimiser(t_hat, 0.15, wh, wv), rtol=1e-8, atol=1e-10)
    assert (wh[:, -1] == 0).all() and (wv[-1, :] == 0).all()  # no difference leaves the image


def test_noise_is_smoothed_and_the_edge_is_kept():
    rng = np.random.default_rng(0)
    step = np.where(np.arange(64) < 32, 0.1, 0.7)[None, :].repeat(48, axis=0)
    t_hat = np.clip(step + rng.normal(0, 0.02, step.shape), 0, 1)
    t = refine_illumination(t_hat, 0.15, 2.0)
    for side in (slice(2, 28), slice(36, 62)):
        assert t[:, side].std() < 0.25 * t_hat[:, side].std()
    # the step survives, sharp: one pixel carries most of it (the energy lets the two sides pull
    # each other's level a little through the weak edge weights, about 0.03 each here)
    assert t[:, 34:].mean() - t[:, :30].mean() > 0.45
    assert (t[:, 32] - t[:, 31]).mean() > 0.45
    assert np.isclose(t.mean(), t_hat.mean(), atol=1e-9)  # the smoothing only moves light around


def test_r_is_the_image_divided_by_the_map_to_the_gamma():
    grey = np.full((40, 60, 3), 40, np.uint8)  # flat: T = T̂ = 40/255 everywhere
    out = enhance(grey, LIMEParams(scale=1.0))
    expected = np.rint(255 * min(1.0, (40 / 255) / (40 / 255) ** 0.8))
    assert np.abs(out.astype(int) - expected).max() <= 1
    black = enhance(np.zeros((20, 30, 3), np.uint8), LIMEParams())
    assert (black == 0).all()  # 0 / ε stays 0: no noise is invented
    assert EPS == 1e-3


@pytest.fixture(scope="module")
def night() -> np.ndarray:
    return (data.astronaut()[::2, ::2].astype(np.float32) * 0.12).astype(np.uint8)


def test_half_resolution_solve_stays_close_to_the_full_one_and_brightens(night):
    full = enhance(night, LIMEParams(scale=1.0))
    half = enhance(night, LIMEParams())
    diff = np.abs(full.astype(int) - half)
    assert diff.mean() < 3 and np.percentile(diff, 99) <= 12
    assert half.mean() > 3 * night.mean()
    darker = enhance(night, LIMEParams(gamma=0.5))
    assert darker.mean() < half.mean()  # lower γ divides by less: more of the night kept


def test_parameters_are_checked_by_name():
    for kwargs, name in (({"alpha": 0.0}, "alpha"), ({"gamma": 2.0}, "gamma"), ({"scale": 0.0}, "scale"),
                         ({"sigma": 100.0}, "sigma")):
        with pytest.raises(ParamError, match=f"lime: {name}"):
            LIMEParams(**kwargs)
