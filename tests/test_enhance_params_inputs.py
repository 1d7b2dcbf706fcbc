"""Enhancement parameters (validation, JSON, registry, honest sliders) and awkward inputs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from srn.enhance import (
    METHODS,
    CLAHEParams,
    GammaParams,
    ImageInputError,
    MSRCPParams,
    MSRCRParams,
    MSRParams,
    ParamError,
    enhance,
    get_method,
    params_from_dict,
)
from srn.enhance.preview import PreviewSession

ALL_DEFAULTS = [MSRCRParams(), MSRParams(), MSRCPParams(), GammaParams(), CLAHEParams()]
# Canonical mode with a gain/offset that maps each method's typical values into 0..255
# (the default G = 192, b = -30 saturate these images, and a saturated picture hides changes).
MODES = [
    MSRCRParams(), MSRCRParams(output="auto"), MSRCRParams(output="canonical", gain=1.0, offset=128.0),
    MSRParams(), MSRParams(output="auto"), MSRParams(output="canonical", gain=100.0, offset=1.3),
    MSRCPParams(), GammaParams(), CLAHEParams(),
]


@pytest.fixture(scope="module")
def night() -> np.ndarray:
    from srn.data.synth import SynthConfig, make_sample

    return make_sample(0, 3, SynthConfig(width=160, height=120)).night


def test_registry_lists_every_method_with_its_params():
    assert list(METHODS) == ["msrcr", "msr", "msrcp", "gamma", "clahe", "sci", "lime"]
    for p in ALL_DEFAULTS:
        assert get_method(p.method).params_type is type(p)
    with pytest.raises(ParamError, match="unknown enhancement method 'nope'"):
        get_method("nope")


@pytest.mark.parametrize("params", MODES, ids=lambda p: f"{p.method}-{p.mode}")
def test_json_round_trip(params):
    text = params.to_json()
    back = params_from_dict(json.loads(text))
    assert back == params and type(back) is type(params)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (MSRCRParams, dict(sigmas=(15.0, 0.0)), r"msrcr: sigmas must be >= 1"),
        (MSRCRParams, dict(sigmas=()), r"sigmas must be a non-empty list"),
        (MSRCRParams, dict(low_clip=50.0), r"low_clip must be <= 49.9"),
        (MSRCRParams, dict(high_clip=-1.0), r"high_clip must be >= 0"),
        (MSRCRParams, dict(output="fancy"), r"output must be one of balance, auto, canonical"),
        (MSRCRParams, dict(alpha="big"), r"alpha must be a number"),
        (MSRParams, dict(weights=(1.0, 2.0)), r"weights has 2 values for 3 sigmas"),
        (MSRParams, dict(weights=(1.0, -1.0, 0.5)), r"weights must be non-negative"),
        (GammaParams, dict(gamma=0.0), r"gamma: gamma must be >= 0.05"),
        (CLAHEParams, dict(tiles=2.5), r"tiles must be an integer"),
    ],
)
def test_invalid_parameters_give_clear_messages(cls, kwargs, message):
    with pytest.raises(ParamError, match=message):
        cls(**kwargs)


def test_unknown_or_mismatched_json_fields_are_rejected():
    with pytest.raises(ParamError, match="unknown parameter"):
        params_from_dict({"method": "msrcr", "sigma": 3})
    with pytest.raises(ParamError, match="no 'method'"):
        params_from_dict({"sigmas": [1, 2]})
    with pytest.raises(ParamError, match="not 'msr'"):
        MSRParams.from_dict({"method": "msrcr"})


def _nudge(params, spec):
    value = getattr(params, spec.name)
    if spec.kind == "choice":
        return next(c for c in spec.choices if c != value)
    if spec.kind == "floats":
        return tuple(min(spec.maximum, v * 1.6) for v in value[:1]) + tuple(value[1:])
    new = value * 1.6 if value else 1.0
    if spec.kind == "int":
        new = int(value) + 3
    if spec.maximum is not None and new > spec.maximum:
        new = (value + spec.minimum) / 2
    return type(value)(new) if spec.kind != "float" else float(new)


@pytest.mark.parametrize("params", MODES, ids=lambda p: f"{p.method}-{p.mode}")
def test_every_offered_parameter_changes_the_picture(night, params):
    """The GUI builds sliders from ``offered_specs``: each one must visibly do something."""
    base = enhance(night, params)
    offered = params.offered_specs()
    assert offered
    for spec in offered:
        changed = dataclasses.replace(params, **{spec.name: _nudge(params, spec)})
        assert not np.array_equal(enhance(night, changed), base), f"{spec.name} had no effect"


@pytest.mark.parametrize("params", MODES, ids=lambda p: f"{p.method}-{p.mode}")
def test_parameters_not_offered_really_have_no_effect(night, params):
    base = enhance(night, params)
    offered = {s.name for s in params.offered_specs()}
    for spec in params.specs():
        if spec.name not in offered:
            changed = dataclasses.replace(params, **{spec.name: _nudge(params, spec)})
            np.testing.assert_array_equal(enhance(night, changed), base, err_msg=spec.name)


def test_beta_gain_offset_are_offered_only_in_canonical_mode():
    names = lambda p: {s.name for s in p.offered_specs()}  # noqa: E731
    assert {"beta", "gain", "offset"} <= names(MSRCRParams(output="canonical"))
    assert not {"beta", "gain", "offset"} & names(MSRCRParams(output="balance"))
    assert {"low_clip", "high_clip"} <= names(MSRCRParams()) and "low_clip" not in names(MSRCRParams(output="auto"))


@pytest.mark.parametrize("params", ALL_DEFAULTS, ids=lambda p: p.method)
def test_black_white_and_single_pixel_images(params):
    for value in (0, 255):
        out = enhance(np.full((20, 30, 3), value, np.uint8), params)
        assert out.dtype == np.uint8 and out.shape == (20, 30, 3)
        if params.method.startswith("msr"):
            assert (out == value).all(), f"flat {value} image should stay {value}"
    one = enhance(np.array([[[10, 20, 30]]], np.uint8), params)
    assert one.shape == (1, 1, 3)


@pytest.mark.parametrize("params", ALL_DEFAULTS, ids=lambda p: p.method)
def test_grey_rgba_and_uint16_inputs(night, params):
    grey = night[:, :, 1]
    out = enhance(grey, params)
    assert out.shape == (*grey.shape, 3)
    # Equal channels in, equal channels out (CLAHE's Lab round trip may differ by one level).
    assert np.abs(out[..., 0].astype(int) - out[..., 2]).max() <= (1 if params.method == "clahe" else 0)
    rgba = np.dstack([night, np.full(grey.shape, 7, np.uint8)])
    np.testing.assert_array_equal(enhance(rgba, params), enhance(night, params))
    wide = night.astype(np.uint16) * 257
    assert np.abs(enhance(wide, params).astype(int) - enhance(night, params).astype(int)).max() <= 1


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ImageInputError, match="exceeds the limit of 100 pixels"):
        enhance(np.zeros((20, 20, 3), np.uint8), max_pixels=100)
    with pytest.raises(ImageInputError, match="expected an"):
        enhance(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageInputError, match="unsupported pixel type int64"):
        enhance(np.zeros((4, 4, 3), np.int64))
    with pytest.raises(ImageInputError, match="NaN"):
        enhance(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ImageInputError, match="empty image"):
        enhance(np.zeros((0, 4, 3), np.uint8))


def test_no_nan_or_inf_on_extreme_inputs():
    rng = np.random.default_rng(0)
    sparse = np.zeros((50, 50, 3), np.uint8)
    sparse[rng.random((50, 50)) < 0.01] = 255
    for p in MODES:
        out = enhance(sparse, p)
        assert out.dtype == np.uint8  # uint8 cannot hold NaN: check the float stage instead
    from srn.enhance.retinex import RetinexCache

    cache = RetinexCache(sparse)
    for c in range(3):
        assert np.isfinite(cache.msr((15.0, 80.0, 250.0), (1 / 3,) * 3, c)).all()
        assert np.isfinite(cache.colour_restoration(c, 125.0)).all()


def test_preview_session_scales_image_and_sigmas(night):
    big = np.repeat(np.repeat(night, 10, axis=0), 10, axis=1)  # 1600×1200
    session = PreviewSession(big, max_width=400)
    assert session.image.shape == (300, 400, 3)
    assert session.scaled(MSRCRParams()).sigmas == pytest.approx((3.75, 20.0, 62.5))
    preview = session.render(MSRCRParams())
    full = enhance(big, MSRCRParams())
    small_full = full.reshape(300, 4, 400, 4, 3).mean(axis=(1, 3))
    assert np.abs(preview.astype(float) - small_full).mean() < 6.0  # looks like the shrunk result
    assert session.render(GammaParams()).shape == (300, 400, 3)
