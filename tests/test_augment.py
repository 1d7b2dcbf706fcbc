"""Augmentation: boxes stay inside the image, pixels follow boxes, randomness is reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srn.data import augment
from srn.data.augment import TrainTransform, make_target

COLOUR = np.array([255, 0, 255], dtype=np.uint8)
BACKGROUND = 60
SMALL_ANCHORS = (4, 8, 16, 32)


@st.composite
def scenes(draw):
    """A grey image with one magenta face box (inclusive integer extents), a random seed."""
    w = draw(st.integers(24, 120))
    h = draw(st.integers(24, 120))
    bw = draw(st.integers(6, w))
    bh = draw(st.integers(6, h))
    x1 = draw(st.integers(0, w - bw))
    y1 = draw(st.integers(0, h - bh))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    image = np.full((h, w, 3), BACKGROUND, dtype=np.uint8)
    image[y1: y1 + bh, x1: x1 + bw] = COLOUR
    box = [x1, y1, x1 + bw - 1, y1 + bh - 1]
    return image, make_target([box], hard_negatives=[[0, 0, 3, 3]]), seed


def check(image: np.ndarray, target: dict, colour_min: float = 4.0) -> None:
    h, w = image.shape[:2]
    for key in ("boxes", "hard_negatives"):
        b = target[key]
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all(), (key, b)
        assert (b[:, 2] <= w - 1 + 1e-9).all() and (b[:, 3] <= h - 1 + 1e-9).all(), (key, b, w, h)
        assert ((b[:, 2] - b[:, 0] + 1) > 0).all() and ((b[:, 3] - b[:, 1] + 1) > 0).all(), (key, b)
    assert len(target["ignore"]) == len(target["boxes"]) == len(target["weights"])
    for b in target["boxes"]:
        if b[2] - b[0] + 1 >= colour_min and b[3] - b[1] + 1 >= colour_min:
            cx, cy = int((b[0] + b[2] + 1) / 2), int((b[1] + b[3] + 1) / 2)
            assert np.abs(image[cy, cx].astype(int) - COLOUR).max() <= 40, (b, image[cy, cx])


def test_map_boxes_scales_inclusive_widths_exactly():
    b = augment.map_boxes(np.array([[10.0, 20.0, 19.0, 39.0]]), 2.0, 0.5)
    np.testing.assert_allclose(b, [[20, 10, 39, 19]])  # widths 10 -> 20, heights 20 -> 10
    whole = augment.map_boxes(np.array([[0.0, 0.0, 99.0, 49.0]]), 0.64, 2.0)
    np.testing.assert_allclose(whole, [[0, 0, 63, 99]])  # the whole image stays the whole image


def test_flip_uses_the_inclusive_convention():
    image = np.zeros((5, 10, 3), np.uint8)
    _, t = augment.hflip(image, make_target([[0, 0, 2, 4]]))
    np.testing.assert_allclose(t["boxes"], [[7, 0, 9, 4]])


@settings(max_examples=40, deadline=None)
@given(scenes())
def test_flip_twice_is_identity_and_colour_follows(scene):
    image, target, _ = scene
    once_img, once = augment.hflip(image, target)
    check(once_img, once)
    twice_img, twice = augment.hflip(once_img, once)
    np.testing.assert_array_equal(twice_img, image)
    np.testing.assert_allclose(twice["boxes"], target["boxes"])
    np.testing.assert_allclose(twice["hard_negatives"], target["hard_negatives"])


@settings(max_examples=40, deadline=None)
@given(scenes(), st.integers(16, 200), st.integers(16, 200))
def test_resize_keeps_boxes_inside_and_on_colour(scene, out_w, out_h):
    image, target, _ = scene
    out, t = augment.resize(image, target, (out_w, out_h))
    assert out.shape == (out_h, out_w, 3)
    check(out, t)
    w = target["boxes"][0, 2] - target["boxes"][0, 0] + 1
    assert math.isclose(t["boxes"][0, 2] - t["boxes"][0, 0] + 1, w * out_w / image.shape[1])


@settings(max_examples=40, deadline=None)
@given(scenes())
def test_expand_keeps_boxes_inside_and_on_colour(scene):
    image, target, seed = scene
    out, t = augment.random_expand(image, target, np.random.default_rng(seed), p=1.0)
    assert out.shape[0] >= image.shape[0] and out.shape[1] >= image.shape[1]
    check(out, t)
    assert out.sum() - image.sum() != 0 or out.shape == image.shape
    assert t["boxes"][0, 2] - t["boxes"][0, 0] == target["boxes"][0, 2] - target["boxes"][0, 0]


@settings(max_examples=60, deadline=None)
@given(scenes(), st.integers(16, 64))
def test_das_crop_keeps_boxes_inside_and_on_colour(scene, size):
    image, target, seed = scene
    out, t = augment.random_crop(image, target, np.random.default_rng(seed), size, anchor_sizes=SMALL_ANCHORS)
    assert out.shape == (size, size, 3)
    check(out, t)
    # the sampled face (the only one) is kept: its centre is always inside the window
    assert len(t["boxes"]) == 1


@settings(max_examples=40, deadline=None)
@given(scenes(), st.integers(16, 64))
def test_train_transform_without_colour_jitter_keeps_pixels_under_boxes(scene, size):
    image, target, seed = scene
    transform = TrainTransform(size, np.random.default_rng(seed), photometric=False, anchor_sizes=SMALL_ANCHORS)
    out, t = transform.apply(image, target)
    assert out.shape == (size, size, 3)
    check(out, t)
    tensor, tt = augment.to_tensors(out, t)
    np.testing.assert_array_equal(augment.denormalize(tensor), out)


def test_das_scale_choice_hits_an_anchor_no_larger_than_one_above_the_nearest():
    rng = np.random.default_rng(0)
    anchors = np.array(augment.ANCHOR_SIZES, float)
    for face in (3.0, 20.0, 70.0, 300.0, 900.0):
        nearest = int(np.argmin(np.abs(np.log(anchors) - math.log(face))))
        for _ in range(50):
            size = face * augment.choose_scale(face, rng)
            index = int(np.argmin(np.abs(np.log(anchors) - math.log(size))))
            assert index <= min(nearest + 1, len(anchors) - 1)
            assert (anchors[index] / augment.ANCHOR_JITTER - 1e-6
                    <= size <= anchors[index] * augment.ANCHOR_JITTER + 1e-6)


def test_crop_border_faces_become_ignore_and_tiny_faces_are_ignored():
    t = make_target([[-10, 0, 5, 9], [20, 20, 29, 29], [100, 100, 110, 110], [40, 40, 40.5, 50]])
    out = augment.fit_to_image(t, 64, 64)
    np.testing.assert_allclose(out["boxes"], [[0, 0, 5, 9], [20, 20, 29, 29], [40, 40, 40.5, 50]])
    assert out["ignore"].tolist() == [True, False, True]


def test_crop_without_faces_still_gives_the_training_size():
    image = np.full((50, 80, 3), 10, np.uint8)
    out, t = augment.random_crop(image, make_target([[1, 1, 1, 1]], ignore=[True]), np.random.default_rng(1), 32)
    assert out.shape == (32, 32, 3) and t["ignore"].all()


def test_photometric_is_deterministic_and_changes_colours():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    a = augment.photometric_distort(image, np.random.default_rng(7), p=1.0)
    b = augment.photometric_distort(image, np.random.default_rng(7), p=1.0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == image.shape and a.dtype == np.uint8 and not np.array_equal(a, image)


def test_train_transform_is_deterministic_for_a_seed_and_normalised():
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    target = make_target([[10, 10, 40, 50], [60, 20, 80, 45]], weights=[1.0, 0.5])
    runs = []
    for _ in range(2):
        transform = TrainTransform(96, rng=np.random.default_rng(42))
        runs.append([transform(image, target) for _ in range(3)])
    for (ta, ga), (tb, gb) in zip(*runs):
        assert ta.shape == (3, 96, 96) and ta.dtype.is_floating_point
        assert (ta == tb).all() and (ga["boxes"] == gb["boxes"]).all() and (ga["weights"] == gb["weights"]).all()
    other = TrainTransform(96, rng=np.random.default_rng(43))(image, target)[0]
    assert not (other == runs[0][0][0]).all()
    plain = augment.to_tensors(np.full((2, 2, 3), 255, np.uint8), make_target())[0]
    expected = (1 - np.array(augment.IMAGENET_MEAN)) / np.array(augment.IMAGENET_STD)
    np.testing.assert_allclose(plain[:, 0, 0].numpy(), expected, rtol=1e-5)


def test_train_transform_rejects_tiny_sizes():
    with pytest.raises(ValueError):
        TrainTransform(4)
