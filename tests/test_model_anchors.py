"""Anchors and box coding against the authors' numbers (shared/reference/srn.md)."""

from __future__ import annotations

import math

import pytest
import torch

from srn.model.anchors import all_anchors, base_anchors, level_anchors
from srn.model.box_geometry import decode, encode
from srn.model.config import SRNConfig

# srn.md's table: stride, cell (0,0) scale 2, cell (0,0) scale 2√2, cell (1,0) both scales.
TABLE = {
    "P2": (4, (-2.0, -3.0, 5.0, 6.0), (-3.6569, -5.0711, 6.6569, 8.0711),
           (2.0, -3.0, 9.0, 6.0), (0.3431, -5.0711, 10.6569, 8.0711)),
    "P3": (8, (-3.0, -5.0, 10.0, 12.0), (-5.8995, -8.7279, 12.8995, 15.7279),
           (5.0, -5.0, 18.0, 12.0), (2.1005, -8.7279, 20.8995, 15.7279)),
    "P4": (16, (-6.0, -10.0, 21.0, 25.0), (-11.7990, -17.4558, 26.7990, 32.4558),
           (10.0, -10.0, 37.0, 25.0), (4.2010, -17.4558, 42.7990, 32.4558)),
    "P5": (32, (-13.0, -20.0, 44.0, 51.0), (-25.0122, -34.9117, 56.0122, 65.9117),
           (19.0, -20.0, 76.0, 51.0), (6.9878, -34.9117, 88.0122, 65.9117)),
    "P6": (64, (-25.0, -39.0, 88.0, 102.0), (-48.6102, -68.4092, 111.6102, 131.4092),
           (39.0, -39.0, 152.0, 102.0), (15.3898, -68.4092, 175.6102, 131.4092)),
    "P7": (128, (-50.0, -78.0, 177.0, 205.0), (-97.2203, -136.8183, 224.2203, 263.8183),
           (78.0, -78.0, 305.0, 205.0), (30.7797, -136.8183, 352.2203, 263.8183)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TABLE))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_anchor_values_match_the_reference_table(name, dtype):
    stride, a0, a1, b0, b1 = TABLE[name]
    anchors = level_anchors(stride, 1, 2, SRNConfig(), device="cpu", dtype=dtype)
    assert anchors.dtype == dtype and anchors.shape == (4, 4)
    expected = torch.tensor([a0, a1, b0, b1], dtype=torch.float64)
    torch.testing.assert_close(anchors.double(), expected, atol=1e-4, rtol=0)


def test_levels_follow_the_config_strides():
    sizes = [(1, 2)] * 6
    levels = all_anchors(sizes, SRNConfig(), dtype=torch.float64)
    for anchors, (_stride, a0, a1, b0, b1) in zip(levels, TABLE.values()):
        torch.testing.assert_close(anchors, torch.tensor([a0, a1, b0, b1], dtype=torch.float64), atol=1e-4, rtol=0)


def test_first_p2_anchor_is_8_by_10_inclusive():
    a = base_anchors(4, dtype=torch.float64)[0]
    assert (a[2] - a[0] + 1).item() == 8 and (a[3] - a[1] + 1).item() == 10


def test_order_and_count_on_a_small_grid():
    stride, h, w = 16, 3, 4
    base = base_anchors(stride, dtype=torch.float64)
    anchors = level_anchors(stride, h, w, dtype=torch.float64)
    assert base.shape == (2, 4)
    assert anchors.shape == (h * w * 2, 4)
    for i in range(h):
        for j in range(w):
            for a in range(2):
                shift = torch.tensor([j * stride, i * stride, j * stride, i * stride], dtype=torch.float64)
                torch.testing.assert_close(anchors[(i * w + j) * 2 + a], base[a] + shift, atol=0, rtol=0)


def test_empty_grid_and_level_count_check():
    assert level_anchors(8, 0, 5).shape == (0, 4)
    with pytest.raises(ValueError):
        all_anchors([(2, 2)] * 5)


def test_base_anchor_cache_is_not_corrupted_by_callers():
    a = base_anchors(8, dtype=torch.float64)
    a += 1000
    expected = torch.tensor([-3.0, -5.0, 10.0, 12.0], dtype=torch.float64)
    torch.testing.assert_close(base_anchors(8, dtype=torch.float64)[0], expected)


def test_other_scales_and_ratios_enumerate_ratio_major():
    cfg = SRNConfig(anchor_scales=(1.0, 2.0), anchor_ratios=(0.5, 1.0))
    a = base_anchors(16, cfg, dtype=torch.float64)
    assert a.shape == (4, 4)
    # Ratio 0.5 on the 16 px window: w = round(sqrt(512)) = 23, h = round(11.5) = 12 (half to even).
    widths = a[:, 2] - a[:, 0] + 1
    heights = a[:, 3] - a[:, 1] + 1
    torch.testing.assert_close(widths, torch.tensor([23.0, 46.0, 16.0, 32.0], dtype=torch.float64))
    torch.testing.assert_close(heights, torch.tensor([12.0, 24.0, 16.0, 32.0], dtype=torch.float64))
    # Every anchor is centred on the base window's centre (7.5, 7.5).
    torch.testing.assert_close((a[:, 0] + a[:, 2]) / 2, torch.full((4,), 7.5, dtype=torch.float64))


# ------------------------------------------------------------------------------ box coding


def test_decode_hand_computed():
    anchor = torch.tensor([[-2.0, -3.0, 5.0, 6.0]], dtype=torch.float64)  # w = 7, h = 9, centre (1.5, 1.5)
    deltas = torch.tensor([[0.1, -0.2, math.log(2.0), 0.0]], dtype=torch.float64)
    # cx' = 0.7 + 1.5 = 2.2, cy' = -1.8 + 1.5 = -0.3, w' = 14, h' = 9
    expected = torch.tensor([[2.2 - 7.0, -0.3 - 4.5, 2.2 + 7.0, -0.3 + 4.5]], dtype=torch.float64)
    torch.testing.assert_close(decode(deltas, anchor), expected)
    torch.testing.assert_close(decode(torch.zeros_like(deltas), anchor), anchor)


def test_decode_broadcasts_over_a_batch():
    anchors = level_anchors(8, 2, 3, dtype=torch.float64)  # (12, 4)
    deltas = torch.randn(2, 12, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.3
    batched = decode(deltas, anchors)
    assert batched.shape == (2, 12, 4)
    for n in range(2):
        torch.testing.assert_close(batched[n], decode(deltas[n], anchors))


def test_encode_decode_round_trip():
    g = torch.Generator().manual_seed(0)
    anchors = level_anchors(16, 4, 5, dtype=torch.float32)  # (40, 4)
    xy = torch.rand(3, 40, 2, generator=g) * 200 - 50
    wh = torch.rand(3, 40, 2, generator=g) * 120 + 2
    boxes = torch.cat([xy, xy + wh], dim=-1)
    deltas = encode(boxes, anchors)
    assert deltas.shape == (3, 40, 4)
    torch.testing.assert_close(decode(deltas, anchors), boxes, atol=1e-4, rtol=0)
    d = torch.randn(3, 40, 4, generator=g) * 0.5
    torch.testing.assert_close(encode(decode(d, anchors), anchors), d, atol=1e-4, rtol=0)


def test_clamp_only_when_given_and_only_from_above():
    anchor = torch.tensor([[0.0, 0.0, 10.0, 20.0]], dtype=torch.float64)  # w = 10, h = 20
    deltas = torch.tensor([[0.0, 0.0, 10.0, -10.0]], dtype=torch.float64)
    free = decode(deltas, anchor)
    assert free[0, 2] - free[0, 0] == pytest.approx(10 * math.exp(10.0))
    assert free[0, 3] - free[0, 1] == pytest.approx(20 * math.exp(-10.0))
    cap = math.log(1000.0 / 16.0)
    clamped = decode(deltas, anchor, max_delta=cap)
    assert clamped[0, 2] - clamped[0, 0] == pytest.approx(10 * 62.5)
    assert clamped[0, 3] - clamped[0, 1] == pytest.approx(20 * math.exp(-10.0))  # shrinking untouched
    small = torch.tensor([[0.3, -0.1, 0.5, -0.4]], dtype=torch.float64)
    torch.testing.assert_close(decode(small, anchor, max_delta=cap), decode(small, anchor))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError):
        decode(torch.zeros(3, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError):
        encode(torch.zeros(3, 4), torch.zeros(3, 2))
