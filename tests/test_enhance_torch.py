"""The torch enhancement path (``srn.enhance.torch_ops``) against the numpy/OpenCV reference.

The torch path must reproduce the numpy *fast* path (``RetinexCache(exact=False)``) to within one
grey level, so each building block is checked against the OpenCV call it replaces, then every
method and output mode end to end on synthetic night images.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from srn.data.synth import SynthConfig, make_sample  # noqa: E402
from srn.enhance import (  # noqa: E402
    METHODS,
    CLAHEParams,
    GammaParams,
    ImageInputError,
    MSRCPParams,
    MSRCRParams,
    MSRParams,
    ParamError,
    RetinexCache,
    enhance,
    stretch,
    surround,
    torch_ops,
)

RNG = np.random.default_rng(1234)


def _nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).cpu().numpy()


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


@pytest.fixture(scope="module")
def small_nights() -> list[np.ndarray]:
    config = SynthConfig(width=320, height=214)
    return [make_sample(seed, index, config).night for seed, index in ((0, 0), (1, 3), (2, 5))]


@pytest.fixture(scope="module")
def big_nights() -> list[np.ndarray]:
    config = SynthConfig(width=1080, height=720)
    return [make_sample(seed, index, config).night for seed, index in ((7, 1), (8, 2))]


# --------------------------------------------------------------------------- building blocks
@pytest.mark.parametrize(
    "full_h, full_w, small_h, small_w",
    [(214, 320, 86, 128), (720, 1080, 288, 432), (720, 1080, 17, 26), (37, 53, 5, 7), (101, 7, 3, 1),
     (50, 50, 25, 25), (13, 17, 13, 4), (9, 1, 1, 1)],
)
def test_area_matrix_matches_cv2_inter_area(full_h, full_w, small_h, small_w):
    x = RNG.random((full_h, full_w)).astype(np.float32) * 255
    ref = cv2.resize(x, (small_w, small_h), interpolation=cv2.INTER_AREA).reshape(small_h, small_w)
    got = torch_ops.area_matrix(small_h, full_h) @ x.astype(np.float64) @ torch_ops.area_matrix(small_w, full_w).T
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)  # float32 rounding of values up to 255


@pytest.mark.parametrize(
    "small, full", [((86, 128), (214, 320)), ((17, 26), (720, 1080)), ((1, 5), (9, 40)), ((3, 3), (3, 11))]
)
def test_bilinear_upsampling_matches_cv2_inter_linear(small, full):
    s = RNG.random(small).astype(np.float32) * 5
    ref = cv2.resize(s, (full[1], full[0]), interpolation=cv2.INTER_LINEAR).reshape(full)
    got = torch.nn.functional.interpolate(
        torch.from_numpy(s)[None, None], size=full, mode="bilinear", align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=5e-4)  # OpenCV computes the weights in float32


@pytest.mark.parametrize("h, w, sigma", [(214, 320, 5.0), (60, 80, 11.5), (3, 4, 8.0), (1, 1, 3.0), (2, 300, 2.0)])
def test_full_resolution_blur_matches_numpy(h, w, sigma):
    x = RNG.random((h, w, 3)).astype(np.float32) * 255
    ref = surround._blur(x, sigma, sigma)
    got = _hwc(torch_ops.blur_torch(_nchw(x)[None], sigma)[0])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    "h, w, sigma",
    # (numpy pads tiny images to the kernel size in both axes: keep σ small on the 1×1 one)
    [(214, 320, 15.0), (214, 320, 80.0), (214, 320, 250.0), (214, 320, 7.0), (720, 1080, 15.0), (5, 3, 30.0),
     (1, 1, 4.0)],
)
def test_log_surround_matches_numpy_fast_path(h, w, sigma):
    x = cv2.GaussianBlur(RNG.random((h, w, 3)).astype(np.float32) * 255, (0, 0), 3) + np.float32(1)
    ref = surround.gaussian_surround(x, sigma, log=True)
    got = _hwc(torch_ops.gaussian_surround_torch(_nchw(x)[None], sigma, log=True)[0])
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-5)
    plain = _hwc(torch_ops.gaussian_surround_torch(_nchw(x)[None], sigma)[0])
    np.testing.assert_allclose(plain, surround.gaussian_surround(x, sigma), rtol=1e-4, atol=1e-3)


def test_stretch_clip_points_match_numpy(small_nights):
    cache = RetinexCache(small_nights[0])
    r = [cache.msr((15.0, 80.0, 250.0), (1 / 3, 1 / 3, 1 / 3), c) for c in range(3)]
    rows = torch.from_numpy(np.stack([ch.ravel() for ch in r]))
    lo, hi = torch_ops._balance_points(rows, 1.0, 1.0)
    ref = np.array([stretch.balance_clip_points(ch, 1.0, 1.0) for ch in r])
    np.testing.assert_allclose(np.stack([lo.numpy(), hi.numpy()], axis=1), ref, rtol=0, atol=1e-5)
    clipped = torch_ops._auto_clip_rows(rows.clone())
    for ch in range(3):  # same bins, same rule: identical clip points
        ref = stretch.auto_clip(r[ch].copy())
        assert clipped[ch].min().item() == ref.min()
        assert clipped[ch].max().item() == ref.max()


# --------------------------------------------------------------------------- end to end
def _all_params() -> list:
    out = []
    for cls in (MSRCRParams, MSRParams):
        out += [cls(output="balance"), cls(output="auto"), cls(output="balance", low_clip=0.1, high_clip=3.0)]
    # canonical: G·(x + b) multiplies float differences by G; MSRCR's C·R spans ~±100, MSR's R ~±3.
    out += [MSRCRParams(output="canonical", gain=1.0, offset=128.0),
            MSRParams(output="canonical", gain=40.0, offset=3.0)]
    out += [MSRCPParams(), MSRCPParams(sigmas=(5.0, 40.0), low_clip=0.5, high_clip=2.0),
            MSRCRParams(sigmas=(3.0, 30.0), weights=(2.0, 1.0)), GammaParams(), GammaParams(gamma=1.7),
            CLAHEParams(), CLAHEParams(clip_limit=1.5, tiles=4)]
    return out


@pytest.mark.parametrize("params", _all_params(), ids=lambda p: f"{p.method}-{getattr(p, 'output', '')}")
def test_torch_matches_numpy_fast_path(params, small_nights, big_nights):
    # In auto mode the P&S rule is a step function of the data; on these images torch and numpy
    # find identical clip points (same int(100·R) bins), so the ≤ 1 grey level bound holds there too.
    for image in small_nights + big_nights:
        ref = enhance(image, params)
        got = torch_ops.enhance_numpy(image, params, device="cpu", max_pixels=10**8)
        assert got.shape == ref.shape and got.dtype == np.uint8
        d = _diff(got, ref)
        assert d.max() <= 1, (params, image.shape, d.max())
        assert d.mean() < 0.01


@pytest.mark.parametrize("params", [MSRCRParams(output="canonical"), MSRParams(output="canonical")])
def test_canonical_default_gain_mean_diff_small(params, small_nights):
    # The default gain (192) amplifies float32 differences; the mean difference stays tiny.
    for image in small_nights:
        d = _diff(torch_ops.enhance_numpy(image, params, device="cpu", max_pixels=10**8), enhance(image, params))
        assert d.mean() < 0.02


def test_enhance_with_device_goes_through_torch(small_nights, monkeypatch):
    calls = []
    original = torch_ops.enhance_torch

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch_ops, "enhance_torch", spy)
    image = small_nights[1]
    got = enhance(image, MSRCRParams(), device="cpu")
    assert calls == [(3, 214, 320)]
    assert _diff(got, enhance(image, MSRCRParams())).max() <= 1


# --------------------------------------------------------------------------- batching, inputs
@pytest.mark.parametrize("params", [MSRCRParams(), MSRCRParams(output="auto"), MSRParams(), MSRCPParams(),
                                    GammaParams(), CLAHEParams()],
                         ids=lambda p: f"{p.method}-{getattr(p, 'output', '')}")
def test_batch_equals_single_calls(params, small_nights):
    batch = torch.stack([_nchw(im) for im in small_nights])
    out = torch_ops.enhance_torch(batch, params)
    assert out.shape == batch.shape and out.dtype == torch.uint8
    for i, image in enumerate(small_nights):
        single = torch_ops.enhance_torch(_nchw(image), params)  # (3, H, W) input
        assert single.shape == (3, 214, 320)
        assert torch.equal(out[i], single)


def test_batch_equals_single_calls_odd_size_and_small_sigmas():
    images = [make_sample(seed, 0, SynthConfig(width=97, height=61)).night for seed in (3, 4)]
    batch = torch.stack([_nchw(im) for im in images])
    for params in (MSRCRParams(sigmas=(5.0, 11.0, 40.0)), MSRCPParams(), MSRParams(output="auto")):
        out = torch_ops.enhance_torch(batch, params)
        for i, image in enumerate(images):
            assert torch.equal(out[i], torch_ops.enhance_torch(_nchw(image), params))


@pytest.mark.parametrize("params", [MSRCRParams(), MSRCRParams(output="auto"), MSRCPParams(), GammaParams(),
                                    CLAHEParams()],
                         ids=lambda p: p.method)
def test_uint8_and_float_input_agree(params, small_nights):
    x = _nchw(small_nights[2])
    a = torch_ops.enhance_torch(x, params)
    b = torch_ops.enhance_torch(x.float(), params)
    assert (a.int() - b.int()).abs().max() <= 1
    c = torch_ops.enhance_torch(x.float().permute(1, 2, 0).contiguous().permute(2, 0, 1), params)  # strided
    assert torch.equal(b, c)


def test_float_numpy_input_and_uint16(small_nights):
    image = small_nights[0]
    for converted in (image.astype(np.float32) / 255, image.astype(np.uint16) * 257):
        for params in (MSRCRParams(), GammaParams()):
            d = _diff(torch_ops.enhance_numpy(converted, params, "cpu", 10**8), enhance(converted, params))
            assert d.max() <= 1


# --------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("params", _all_params()[:9] + [MSRCPParams(), GammaParams(), CLAHEParams()],
                         ids=lambda p: f"{p.method}-{getattr(p, 'output', '')}")
@pytest.mark.parametrize("image", [
    np.zeros((40, 60, 3), np.uint8), np.full((40, 60, 3), 255, np.uint8), np.full((1, 1, 3), 77, np.uint8),
    np.full((30, 1, 3), 9, np.uint8), RNG.integers(0, 256, (1, 1, 3)).astype(np.uint8),
], ids=["black", "white", "1x1", "30x1", "1x1-colour"])
def test_degenerate_images_match_numpy(params, image):
    got = torch_ops.enhance_numpy(image, params, "cpu", 10**8)
    ref = enhance(image, params)
    assert got.shape == ref.shape
    assert _diff(got, ref).max() <= 1


def test_black_stays_black_and_white_white():
    for params in (MSRCRParams(), MSRCRParams(output="auto"), MSRParams(), MSRCPParams()):
        assert torch_ops.enhance_torch(torch.zeros(2, 3, 8, 9, dtype=torch.uint8), params).max() == 0
        assert torch_ops.enhance_torch(torch.full((3, 8, 9), 255.0), params).min() == 255


def test_grey_and_rgba_via_enhance_numpy(small_nights):
    rgb = small_nights[0]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])
    for image in (grey, grey[:, :, None], rgba):
        for params in (MSRCRParams(), MSRCPParams(), GammaParams(), CLAHEParams()):
            got = torch_ops.enhance_numpy(image, params, "cpu", 10**8)
            assert got.shape == (*rgb.shape[:2], 3)
            assert _diff(got, enhance(image, params)).max() <= 1


def test_no_nan_from_extreme_float_values():
    x = torch.zeros(1, 3, 20, 20)
    x[..., ::2, :] = 1e-30
    x[..., 5, 5] = 1e30  # clamped to 255
    for params in (MSRCRParams(), MSRCRParams(output="auto"), MSRCRParams(output="canonical"), MSRCPParams()):
        out = torch_ops.enhance_torch(x, params)
        assert out.dtype == torch.uint8 and out.shape == x.shape
    surround_ = torch_ops.gaussian_surround_torch(x + 1, 15.0, log=True)
    assert torch.isfinite(surround_).all()


@pytest.mark.parametrize("shape", [(3, 4), (1, 4, 5, 6), (4, 5, 3), (2, 3, 4, 5, 6), (3, 0, 4)])
def test_wrong_shapes_raise_clear_errors(shape):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\) or \(3, H, W\)"):
        torch_ops.enhance_torch(torch.zeros(shape, dtype=torch.uint8), MSRCRParams())


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        torch_ops.enhance_torch(torch.full((3, 4, 4), float("nan")), MSRCRParams())
    with pytest.raises(ValueError, match="uint8 or float"):
        torch_ops.enhance_torch(torch.zeros((3, 4, 4), dtype=torch.int32), MSRCRParams())
    with pytest.raises(ImageInputError, match="expected an"):
        torch_ops.enhance_numpy(np.zeros((4, 4, 2), np.uint8), MSRCRParams(), "cpu", 10**8)
    with pytest.raises(ImageInputError, match="exceeds the limit"):
        torch_ops.enhance_numpy(np.zeros((40, 40, 3), np.uint8), MSRCRParams(), "cpu", 100)


# --------------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("params", _all_params(), ids=lambda p: f"{p.method}-{getattr(p, 'output', '')}")
def test_cuda_matches_cpu(params, small_nights, big_nights):
    for images in (small_nights, big_nights):
        batch = torch.stack([_nchw(im) for im in images])
        cpu = torch_ops.enhance_torch(batch, params)
        gpu = torch_ops.enhance_torch(batch.cuda(), params)
        assert gpu.device.type == "cuda" and gpu.dtype == torch.uint8
        d = (gpu.cpu().int() - cpu.int()).abs()
        if getattr(params, "output", None) == "auto":
            # P&S clip points are a step function of int(100·R): one R value crossing a bin edge
            # (GPU vs CPU float rounding) can move a clip point by 0.01 and the output by a few levels.
            assert d.float().mean() < 0.5
        else:
            assert d.max() <= 1
    got = torch_ops.enhance_numpy(small_nights[0], params, device="cuda", max_pixels=10**8)
    assert _diff(got, enhance(small_nights[0], params)).mean() < 0.5


@pytest.mark.parametrize("name", list(METHODS))
def test_every_registered_method_runs_through_numpy_and_torch_alike(name, small_nights):
    """A method added to the registry without a torch path (or with a wrong one) fails here, not
    only on a GPU machine."""
    params = METHODS[name].params_type()
    for image in small_nights:
        ref = enhance(image, params)
        got = torch_ops.enhance_numpy(image, params, device="cpu")
        assert got.shape == ref.shape and got.dtype == np.uint8
        assert _diff(got, ref).max() <= 1, name


def test_a_method_without_a_torch_op_is_refused_by_name():
    import dataclasses

    from srn.enhance import registry

    broken = dataclasses.replace(METHODS["gamma"], torch_op="none")
    original = registry.METHODS["gamma"]
    registry.METHODS["gamma"] = broken
    try:
        with pytest.raises(ParamError, match="'gamma' has no torch implementation"):
            torch_ops.enhance_torch(torch.zeros(3, 4, 4, dtype=torch.uint8), GammaParams())
    finally:
        registry.METHODS["gamma"] = original
