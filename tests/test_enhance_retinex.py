"""MSR / MSRCR / MSRCP: the formulas, their invariances, and the fast path's accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from srn.data.synth import SynthConfig, make_sample
from srn.enhance import MSRCPParams, MSRCRParams, MSRParams, RetinexCache, enhance, stretch
from srn.enhance.surround import gaussian_surround

# σ with integral 4σ, so scipy's truncation (int(4σ + 0.5)) equals ours (ceil(4σ)).
SIGMAS = (1.0, 2.0, 3.0)


def _reference_msr(x: np.ndarray, sigmas=SIGMAS, weights=None) -> np.ndarray:
    """Direct float64 MSR of an (H, W, 3) array of pixel values (I = x + 1), scipy's Gaussian."""
    i = x.astype(np.float64) + 1.0
    weights = weights or [1.0 / len(sigmas)] * len(sigmas)
    out = np.zeros_like(i)
    for s, w in zip(sigmas, weights):
        surround = np.stack([ndimage.gaussian_filter(i[..., c], s, mode="reflect", truncate=4.0) for c in range(3)], -1)
        out += w * (np.log(i) - np.log(surround))
    return out


def _reference_msrcr_values(x: np.ndarray, alpha=125.0, beta=46.0) -> np.ndarray:
    i = x.astype(np.float64) + 1.0
    c = beta * (np.log(alpha * i) - np.log(i.sum(axis=2, keepdims=True)))
    return c * _reference_msr(x)


def _reference_balance(values: np.ndarray, low=1.0, high=1.0) -> np.ndarray:
    out = np.empty(values.shape, dtype=np.uint8)
    for c in range(values.shape[2]):
        lo, hi = np.percentile(values[..., c], [low, 100 - high])
        out[..., c] = np.clip(np.floor((values[..., c] - lo) * 255.0 / (hi - lo) + 0.5), 0, 255)
    return out


@pytest.fixture(scope="module")
def tiny() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 60, size=(23, 31, 3), dtype=np.uint8)


def test_msr_matches_direct_formula(tiny):
    cache = RetinexCache(tiny, exact=True)
    ours = np.stack([cache.msr(SIGMAS, (1 / 3,) * 3, c) for c in range(3)], -1)
    np.testing.assert_allclose(ours, _reference_msr(tiny), atol=2e-5)


def test_unequal_weights_are_normalised(tiny):
    cache = RetinexCache(tiny, exact=True)
    ours = np.stack([cache.msr(SIGMAS, (0.5, 0.3, 0.2), c) for c in range(3)], -1)
    np.testing.assert_allclose(ours, _reference_msr(tiny, weights=[0.5, 0.3, 0.2]), atol=2e-5)
    a = enhance(tiny, MSRParams(sigmas=SIGMAS, weights=(5, 3, 2)), exact=True)
    b = enhance(tiny, MSRParams(sigmas=SIGMAS, weights=(0.5, 0.3, 0.2)), exact=True)
    np.testing.assert_array_equal(a, b)


def test_msrcr_output_matches_direct_formula_and_percentile_stretch(tiny):
    expected = _reference_balance(_reference_msrcr_values(tiny))
    ours = enhance(tiny, MSRCRParams(sigmas=SIGMAS), exact=True)
    assert np.abs(ours.astype(int) - expected).max() <= 1


def test_colour_restoration_formula():
    grey = np.full((4, 4, 3), 40, dtype=np.uint8)
    cache = RetinexCache(grey)
    for c in range(3):  # grey pixel: log α − log 3 in every channel
        np.testing.assert_allclose(cache.colour_restoration(c, 125.0), np.log(125.0 / 3.0), atol=1e-5)
    reddish = np.zeros((4, 4, 3), dtype=np.uint8)
    reddish[..., 0], reddish[..., 1], reddish[..., 2] = 200, 50, 20
    cache = RetinexCache(reddish)
    r, g, b = (cache.colour_restoration(c, 125.0)[0, 0] for c in range(3))
    assert r > g > b  # the dominant channel is boosted relative to the others
    np.testing.assert_allclose(r - g, np.log(201.0 / 51.0), atol=1e-5)


def test_msr_is_invariant_to_exposure(tiny):
    """R depends on ratios only: scaling I = x + 1 by k leaves MSR unchanged."""
    x = tiny.astype(np.float64)
    brighter = (2.0 * (x + 1.0) - 1.0) / 255.0  # float input: I' = 2·I exactly
    a = RetinexCache(x / 255.0, exact=True)
    b = RetinexCache(brighter, exact=True)
    for c in range(3):
        np.testing.assert_allclose(a.msr(SIGMAS, (1 / 3,) * 3, c), b.msr(SIGMAS, (1 / 3,) * 3, c), atol=1e-5)
    np.testing.assert_array_equal(enhance(x / 255.0, MSRParams(sigmas=SIGMAS), exact=True),
                                  enhance(brighter, MSRParams(sigmas=SIGMAS), exact=True))


def test_gain_offset_and_beta_cancel_after_a_stretch(tiny):
    base = enhance(tiny, MSRCRParams(sigmas=SIGMAS))
    for changed in (dict(gain=10.0), dict(offset=5.0), dict(beta=3.0)):
        np.testing.assert_array_equal(enhance(tiny, MSRCRParams(sigmas=SIGMAS, **changed)), base)


def test_canonical_mode_is_fixed_gain_offset(tiny):
    p = MSRParams(sigmas=SIGMAS, output="canonical", gain=100.0, offset=0.5)
    r = _reference_msr(tiny)
    expected = np.clip(np.floor(100.0 * (r + 0.5) + 0.5), 0, 255)
    assert np.abs(enhance(tiny, p, exact=True).astype(int) - expected).max() <= 1


def test_auto_clip_points_follow_the_histogram_rule():
    values = np.concatenate([np.zeros(1000), np.full(500, 0.011), np.full(50, 0.025), np.full(80, 0.031),
                             np.full(10, 0.05), np.full(400, -0.015), np.full(20, -0.022), np.full(5, -0.5)])
    channel = values.astype(np.float32).reshape(1, -1)
    # bins: 0 -> 1000 (ref); +1 -> 500; +2 -> 50 (< 100: first rare bin above); -1 -> 400; -2 -> 20 (rare)
    assert stretch.auto_clip_points(channel) == (-0.02, 0.02)
    # empty bins are skipped (the rule walks over bins that have pixels), extremes when none is rare
    dense = np.concatenate([np.zeros(10), np.full(9, 0.3), np.full(9, -0.7)]).astype(np.float32).reshape(1, -1)
    assert stretch.auto_clip_points(dense) == (-0.7, 0.3)


def test_auto_clip_without_pixels_in_the_zero_bin_does_not_crash():
    channel = np.linspace(0.5, 2.0, 100, dtype=np.float32).reshape(10, 10)
    assert stretch.auto_clip_points(channel) == pytest.approx((0.5, 2.0))
    out = enhance(np.full((8, 8, 3), 200, np.uint8), MSRParams(output="auto"))
    assert out.shape == (8, 8, 3)


@pytest.fixture(scope="module")
def night_images():
    config = SynthConfig(width=1080, height=720)
    return [make_sample(5, i, config).night for i in (1, 2)]


@pytest.mark.parametrize("params", [MSRCRParams(), MSRParams(), MSRCPParams()], ids=lambda p: p.method)
def test_fast_path_within_two_grey_levels_of_exact(night_images, params):
    for image in night_images:
        diff = np.abs(enhance(image, params).astype(int) - enhance(image, params, exact=True).astype(int))
        assert diff.max() <= 2 and diff.mean() <= 0.1, (diff.max(), diff.mean())


def test_fast_path_auto_mode_clip_points_agree_with_exact(night_images):
    image = night_images[0]
    fast, exact = RetinexCache(image), RetinexCache(image, exact=True)
    for c in range(3):
        a = stretch.auto_clip_points(fast.msr((15.0, 80.0, 250.0), (1 / 3,) * 3, c))
        b = stretch.auto_clip_points(exact.msr((15.0, 80.0, 250.0), (1 / 3,) * 3, c))
        assert a == pytest.approx(b, abs=0.0100001)  # at most one 0.01 bin apart
    diff = np.abs(enhance(image, MSRCRParams(output="auto")).astype(int) -
                  enhance(image, MSRCRParams(output="auto"), exact=True).astype(int))
    assert diff.mean() <= 0.5


def test_fast_surround_tracks_exact_surround():
    x = np.random.default_rng(1).random((300, 420)).astype(np.float32) * 50 + 1
    x = gaussian_surround(x, 3.0)  # some smooth structure
    for sigma in (15.0, 80.0, 250.0):
        fast = gaussian_surround(x, sigma, log=True)
        exact = gaussian_surround(x, sigma, exact=True, log=True)
        assert np.abs(fast - exact).max() < 0.01


def test_cache_recomputes_only_what_a_slider_touches(night_images):
    cache = RetinexCache(night_images[0])
    p = MSRCRParams()
    first = enhance(night_images[0], p, cache=cache)
    assert cache.surround_computations == 3
    enhance(night_images[0], p.replace(low_clip=2.0, alpha=80.0), cache=cache)
    assert cache.surround_computations == 3
    moved = enhance(night_images[0], p.replace(sigmas=(20.0, 80.0, 250.0)), cache=cache)
    assert cache.surround_computations == 4
    np.testing.assert_array_equal(enhance(night_images[0], p, cache=cache), first)
    assert cache.surround_computations == 4
    assert not np.array_equal(moved, first)


def test_msrcp_preserves_chromaticity():
    rng = np.random.default_rng(3)
    image = (rng.random((40, 60, 3)) * 40 + 5).astype(np.uint8)
    out = enhance(image, MSRCPParams(sigmas=(3.0, 6.0, 12.0))).astype(np.float64) + 1
    i = image.astype(np.float64) + 1
    unclipped = out.max(axis=2) < 255
    ratio_in = i[..., 0] / i[..., 1]
    ratio_out = out[..., 0] / out[..., 1]
    # Rounding to 8 bits perturbs ratios of dark pixels a little; colours are kept, not remapped.
    assert np.median(np.abs(np.log(ratio_out[unclipped] / ratio_in[unclipped]))) < 0.03
    assert out.mean() > 2 * i.mean()
