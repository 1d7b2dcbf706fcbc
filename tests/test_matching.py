"""Anchor matching for training (srn.model.matching): thresholds, best-anchor rule, ignore regions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from srn.model.anchors import all_anchors, level_anchors
from srn.model.box_geometry import box_ioa_plus_one, box_iou_plus_one
from srn.model.config import SRNConfig
from srn.model.matching import match

F64 = torch.float64


def t(rows):
    return torch.tensor(rows, dtype=F64)


FACE = t([[0, 0, 9, 9]])  # 10 × 10 px inclusive, area 100
# IoU with FACE ("+1"): 1.0, 0.7, 0.5, 0.3, 0.2, 0.0 (same left/top, shorter bottoms)
ANCHORS = t([[0, 0, 9, 9], [0, 0, 9, 6], [0, 0, 9, 4], [0, 0, 9, 2], [0, 0, 9, 1], [50, 50, 59, 59]])


def test_iou_of_the_crafted_anchors():
    iou = box_iou_plus_one(ANCHORS, FACE)[:, 0]
    torch.testing.assert_close(iou, t([1.0, 0.7, 0.5, 0.3, 0.2, 0.0]))


def test_first_step_thresholds_0_3_and_0_7_inclusive_at_the_positive_one():
    m = match(ANCHORS, FACE, torch.tensor([False]), 0.3, 0.7)
    # >= 0.7 positive; [0.3, 0.7) ignored; < 0.3 negative
    assert m.labels.tolist() == [1, 1, -1, -1, 0, 0]
    assert m.gt_index.tolist() == [0, 0, -1, -1, -1, -1]
    assert m.labels.dtype == torch.int64 and m.gt_index.dtype == torch.int64


def test_second_step_thresholds_0_4_and_0_5():
    m = match(ANCHORS, FACE, torch.tensor([False]), 0.4, 0.5)
    assert m.labels.tolist() == [1, 1, 1, 0, 0, 0]


def test_positive_goes_to_the_face_of_largest_iou():
    gt = t([[0, 0, 9, 9], [0, 0, 9, 8]])  # anchor 0: IoU 1.0 and 0.9; anchor 1 ([0,0,9,6]): 0.7, 0.778
    m = match(ANCHORS[:2], gt, None, 0.3, 0.7)
    assert m.labels.tolist() == [1, 1]
    assert m.gt_index.tolist() == [0, 1]


def test_tiny_face_gets_its_best_anchor_below_the_positive_threshold():
    anchors = level_anchors(4, 8, 8, SRNConfig(), dtype=F64)  # P2: 8 × 10 and 11.3 × 14.1 px
    face = t([[13, 13, 16, 16]])  # 4 × 4 px
    iou = box_iou_plus_one(anchors, face)[:, 0]
    assert iou.max() < 0.3  # below even the negative threshold
    m = match(anchors, face, torch.tensor([False]), 0.3, 0.7)
    best = (iou == iou.max()).nonzero(as_tuple=True)[0]
    assert (m.labels == 1).nonzero(as_tuple=True)[0].tolist() == best.tolist()
    assert (m.gt_index[best] == 0).all()
    assert ((m.labels == 0) | (m.labels == 1)).all()


def test_best_anchor_rule_needs_a_positive_overlap():
    m = match(ANCHORS[:5], t([[100, 100, 109, 109]]), None, 0.3, 0.7)
    assert m.labels.tolist() == [0] * 5 and (m.gt_index == -1).all()


def test_ties_make_every_best_anchor_positive():
    # The face straddles two anchors equally: IoU 50/150 each; both become positives.
    anchors = t([[0, 0, 9, 9], [10, 0, 19, 9], [30, 0, 39, 9]])
    m = match(anchors, t([[5, 0, 14, 9]]), None, 0.4, 0.5)
    assert m.labels.tolist() == [1, 1, 0]
    assert m.gt_index.tolist() == [0, 0, -1]


def test_an_anchor_best_for_two_faces_goes_to_the_one_it_overlaps_most():
    # One anchor, two small faces inside it: both have it as best; face 1 overlaps more.
    anchors = t([[0, 0, 19, 19], [100, 100, 119, 119]])
    gt = t([[0, 0, 4, 4], [10, 10, 19, 19]])
    m = match(anchors, gt, None, 0.3, 0.7)
    assert m.labels.tolist() == [1, 0]
    assert m.gt_index.tolist() == [1, -1]


def test_no_faces_means_all_negative():
    anchors = level_anchors(8, 4, 4, dtype=F64)
    for gt, ign in ((torch.zeros((0, 4), dtype=F64), torch.zeros(0, dtype=torch.bool)), (torch.zeros((0, 4)), None)):
        m = match(anchors, gt, ign, 0.3, 0.7)
        assert (m.labels == 0).all() and (m.gt_index == -1).all()
        assert m.labels.shape == (anchors.shape[0],)


def test_ignore_regions_never_make_positives_and_shield_what_they_cover():
    region = t([[0, 0, 99, 99]])  # a large "don't care" region (e.g. an invalid face)
    anchors = t([
        [0, 0, 99, 99],  # IoU 1 with the region: would be positive → ignored
        [0, 0, 99, 39],  # IoU 0.4 >= θn → ignored
        [10, 10, 19, 19],  # small anchor inside it: IoU 0.01 but IoA 1 → ignored
        [90, 90, 109, 109],  # IoA 100/400 = 0.25, IoU small → negative
        [300, 300, 309, 309],  # far away → negative
    ])  # fmt: skip
    m = match(anchors, region, torch.tensor([True]), 0.3, 0.7)
    assert m.labels.tolist() == [-1, -1, -1, 0, 0]
    assert (m.gt_index == -1).all()
    torch.testing.assert_close(box_ioa_plus_one(anchors, region)[:, 0], t([1.0, 1.0, 1.0, 0.25, 0.0]))


def test_ioa_threshold_is_inclusive_at_one_half():
    region = t([[0, 0, 99, 99]])
    anchors = t([[90, 0, 109, 9]])  # half of the anchor's 200 px inside the region
    assert box_ioa_plus_one(anchors, region).item() == 0.5
    assert match(anchors, region, torch.tensor([True]), 0.3, 0.7).labels.tolist() == [-1]
    assert match(anchors, region, torch.tensor([True]), 0.3, 0.7, ioa_threshold=0.6).labels.tolist() == [0]


def test_a_real_face_inside_an_ignore_region_keeps_its_positives():
    gt = t([[0, 0, 9, 9], [0, 0, 99, 99]])
    m = match(ANCHORS, gt, torch.tensor([False, True]), 0.3, 0.7)
    # Anchors 0 and 1 are positives of face 0; the rest lie inside the region (IoA >= 0.5).
    assert m.labels.tolist() == [1, 1, -1, -1, -1, -1]
    assert m.gt_index.tolist() == [0, 0, -1, -1, -1, -1]


def test_invalid_anchors_are_ignored_and_never_rescue_a_face():
    valid = torch.tensor([False, True, True, True, True, True])
    m = match(ANCHORS, FACE, None, 0.3, 0.7, anchor_valid=valid)
    assert m.labels.tolist() == [-1, 1, -1, -1, 0, 0]
    # The best anchor invalid: the rule falls to the best valid one (IoU 0.5 here).
    valid = torch.tensor([False, False, True, True, True, True])
    m = match(ANCHORS, FACE, None, 0.3, 0.7, anchor_valid=valid)
    assert m.labels.tolist() == [-1, -1, 1, -1, 0, 0]
    # NaN anchors (a diverged refinement) behave the same when marked invalid.
    nan_anchors = ANCHORS.clone()
    nan_anchors[0] = float("nan")
    m = match(nan_anchors, FACE, None, 0.3, 0.7, anchor_valid=torch.isfinite(nan_anchors).all(1))
    assert m.labels.tolist() == [-1, 1, -1, -1, 0, 0]


def reference_match(anchors, gt, ignore, neg, pos, ioa=0.5):
    """The rules spelled out on the full (A, G) matrices."""
    a = anchors.shape[0]
    labels = torch.zeros(a, dtype=torch.long)
    index = torch.full((a,), -1, dtype=torch.long)
    faces = (~ignore).nonzero(as_tuple=True)[0]
    if faces.numel():
        iou = box_iou_plus_one(anchors, gt[faces])
        best, arg = iou.max(1)
        labels[best >= neg] = -1
        labels[best >= pos] = 1
        index[best >= pos] = faces[arg[best >= pos]]
    regions = gt[ignore]
    if regions.shape[0]:
        cover = ((box_iou_plus_one(anchors, regions) >= neg) | (box_ioa_plus_one(anchors, regions) >= ioa)).any(1)
        labels[cover & (labels == 0)] = -1
    if faces.numel():
        for i in range(a):
            cands = [(iou[i, j].item(), -j) for j in range(faces.numel())
                     if iou[:, j].max() > 0 and iou[i, j] == iou[:, j].max()]  # fmt: skip
            if cands:
                _, neg_j = max(cands)
                labels[i] = 1
                index[i] = faces[-neg_j]
    return labels, index


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), g=st.integers(0, 6), chunk=st.sampled_from([1, 7, 64, 10_000]))
def test_chunked_matching_equals_the_reference(seed, g, chunk):
    gen = torch.Generator().manual_seed(seed)
    anchors = level_anchors(8, 6, 6, dtype=F64)
    xy = torch.randint(-10, 50, (g, 2), generator=gen).to(F64)
    wh = torch.randint(1, 40, (g, 2), generator=gen).to(F64)
    gt = torch.cat([xy, xy + wh], 1)
    ignore = torch.rand(g, generator=gen) < 0.3
    m = match(anchors, gt, ignore, 0.3, 0.7, chunk=chunk)
    labels, index = reference_match(anchors, gt, ignore, 0.3, 0.7)
    assert m.labels.tolist() == labels.tolist()
    assert m.gt_index.tolist() == index.tolist()


def test_a_full_pyramid_and_100_faces_is_matched():
    anchors = torch.cat(all_anchors([(160 // 2**k, 160 // 2**k) for k in range(6)], SRNConfig()))  # 640 × 640 input
    anchors = torch.cat([anchors, anchors[: 100_000 - anchors.shape[0]] + 3])  # ~100k anchors
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(100, 2, generator=gen) * 600
    gt = torch.cat([xy, xy + 2 + torch.rand(100, 2, generator=gen) * 120], 1)
    m = match(anchors, gt, torch.arange(100) % 10 == 0, 0.3, 0.7)  # (its speed: benchmarks, not tests)
    matched = set(m.gt_index[m.labels == 1].tolist())
    # Ignore regions never match; a face can lose its only best anchor to a face it overlaps more.
    assert not matched & set(range(0, 100, 10))
    assert len(matched) >= 85


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        match(ANCHORS, FACE, None, 0.7, 0.3)
    with pytest.raises(ValueError):
        match(ANCHORS[:, :3], FACE, None, 0.3, 0.7)
    with pytest.raises(ValueError):
        match(ANCHORS, FACE, torch.tensor([True, False]), 0.3, 0.7)
