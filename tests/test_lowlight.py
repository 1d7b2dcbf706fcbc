"""The low-light camera model: sRGB curve, exposure, colour cast, Poisson–Gaussian noise, JPEG."""

from __future__ import annotations

import numpy as np
import pytest

from srn.data.lowlight import LowLightParams, degrade, linear_to_srgb, srgb_to_linear


def _grey(value: int, size=(64, 64)) -> np.ndarray:
    return np.full((*size, 3), value, dtype=np.uint8)


def test_srgb_curve_round_trips_and_matches_standard_points():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)
    # 50 % sRGB grey is ~21.4 % linear light; 18 % linear grey encodes to ~46 %.
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-4)
    assert linear_to_srgb(np.float32(0.18)) == pytest.approx(0.4613, abs=1e-4)


def test_stronger_exposure_cut_gives_darker_image():
    image = _grey(128)
    bright, _ = degrade(image, np.random.default_rng(0), LowLightParams(exposure=(8, 8), jpeg_probability=0))
    dark, _ = degrade(image, np.random.default_rng(0), LowLightParams(exposure=(40, 40), jpeg_probability=0))
    assert bright.mean() > 1.8 * dark.mean()


def test_exposure_acts_in_linear_light():
    """Without noise or cast, an 8× cut of mid-grey lands where the sRGB curve says (not at 1/8 of 128)."""
    params = LowLightParams(
        exposure=(8, 8), cast_sigma=0.0, full_well=(1e9, 1e9), read_noise=(0, 0), jpeg_probability=0
    )
    night, info = degrade(_grey(128), np.random.default_rng(1), params)
    # The warm-cast mean offsets (+0.08 red, -0.08 blue) stay; green has no cast.
    scene_gain = info["scene_gain"]
    expected_green = linear_to_srgb(srgb_to_linear(np.float32(128 / 255)) * scene_gain / 8) * 255
    assert night[..., 1].mean() == pytest.approx(float(expected_green), abs=0.6)
    assert night[..., 0].mean() > night[..., 1].mean() > night[..., 2].mean()


def test_noise_is_signal_dependent_like_shot_noise():
    params = LowLightParams(exposure=(10, 10), cast_sigma=0.0, read_noise=(0, 0), full_well=(500, 500),
                            jpeg_probability=0)
    image = np.concatenate([_grey(60, (128, 128)), _grey(220, (128, 128))], axis=1)
    night, _ = degrade(image, np.random.default_rng(2), params)
    lin = srgb_to_linear(night[..., 1].astype(np.float32) / 255)
    dark_half, bright_half = lin[:, :128], lin[:, 128:]
    # Poisson: variance grows with the mean (in linear light).
    assert bright_half.var() > 2 * dark_half.var()
    assert bright_half.std() > 0


def test_deterministic_for_a_generator_seed():
    image = (np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8)
    a, ia = degrade(image, np.random.default_rng(7))
    b, ib = degrade(image, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert ia == ib


def test_jpeg_option_records_quality():
    params = LowLightParams(jpeg_probability=1.0, jpeg_quality=(70, 70))
    _, info = degrade(_grey(100), np.random.default_rng(3), params)
    assert info["jpeg_quality"] == 70
    _, info = degrade(_grey(100), np.random.default_rng(3), LowLightParams(jpeg_probability=0.0))
    assert info["jpeg_quality"] is None


@pytest.mark.parametrize(
    "kwargs", [dict(exposure=(0.5, 2)), dict(jpeg_probability=1.5), dict(jpeg_quality=(90, 10)), dict(full_well=(0, 5))]
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        LowLightParams(**kwargs)


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB image"):
        degrade(np.zeros((10, 10), dtype=np.uint8), np.random.default_rng(0))
