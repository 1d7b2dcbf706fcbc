"""Test-time post-processing against the authors' semantics (shared/reference/srn.md)."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.ops import nms

from srn.engine.postprocess import (
    Detections,
    box_voting,
    clip_detections,
    concat,
    detect_boxes,
    filter_by_size,
    nms_plus_one,
    vote_detections,
)
from srn.model.anchors import all_anchors
from srn.model.box_geometry import box_iou_plus_one, clip_boxes, encode, flip_boxes, scale_boxes
from srn.model.config import InferenceConfig, SRNConfig
from srn.model.outputs import LevelOutput, SRNOutput

STRIDES = SRNConfig().strides
SIZES = [(12, 10)] * 6  # 120 cells per level: the normal 0.05 threshold everywhere
NEVER = float("-inf")  # sigmoid(-inf) = 0: never passes, not even a 0.0 threshold


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def make_output(n: int = 1, sizes=SIZES, cls2: float = NEVER, cls1: float = 10.0) -> SRNOutput:
    levels = []
    for li, (h, w) in enumerate(sizes):
        m = h * w * 2
        levels.append(
            LevelOutput(
                cls2=torch.full((n, m), cls2),
                box2=torch.zeros(n, m, 4),
                cls1=torch.full((n, m), cls1),
                box1=torch.zeros(n, m, 4),
                size=(h, w),
                stride=STRIDES[li],
            )
        )
    return SRNOutput(levels)


def anchor_index(i: int, j: int, a: int, w: int = 10) -> int:
    return (i * w + j) * 2 + a


# ----------------------------------------------------------------------------- STC / STR


def test_stc_needs_both_steps_on_p2_p4_and_only_the_second_on_p5_p7():
    out = make_output()
    idx = anchor_index(3, 3, 0)
    for li in range(6):
        # passes only the second step: first-step score 0.005 <= 0.01
        out.levels[li].cls2[0, idx] = logit(0.9)
        out.levels[li].cls1[0, idx] = logit(0.005)
        # passes only the first step: second-step score 0.04 <= 0.05
        out.levels[li].cls2[0, idx + 40] = logit(0.04)
        out.levels[li].cls1[0, idx + 40] = logit(0.9)
    # passes both, just above each threshold, on P4
    out.levels[2].cls2[0, idx + 80] = logit(0.06)
    out.levels[2].cls1[0, idx + 80] = logit(0.02)
    (det,) = detect_boxes(out, all_anchors(SIZES), InferenceConfig())
    got = sorted((int(lv), round(float(s), 4)) for lv, s in zip(det.levels, det.scores))
    assert got == [(2, 0.06), (3, 0.9), (4, 0.9), (5, 0.9)]


def test_stc_level_without_first_step_logits_is_an_error():
    out = make_output()
    out.levels[0].cls1 = None
    with pytest.raises(ValueError, match="cls1"):
        detect_boxes(out, all_anchors(SIZES))
    out = make_output()
    out.levels[4].box1 = None
    with pytest.raises(ValueError, match="box1"):
        detect_boxes(out, all_anchors(SIZES))


def test_missing_first_step_tensors_are_fine_where_unused():
    out = make_output()
    for li in (3, 4, 5):
        out.levels[li].cls1 = None
    for li in (0, 1, 2):
        out.levels[li].box1 = None
    out.levels[1].cls2[0, 5] = logit(0.7)
    (det,) = detect_boxes(out, all_anchors(SIZES))
    assert det.levels.tolist() == [1]


def test_str_two_step_refinement_hand_computed():
    out = make_output()
    # P5 anchor 0: (-13, -20, 44, 51): w = 57, h = 71, centre (15.5, 15.5)
    out.levels[3].cls2[0, 0] = logit(0.8)
    out.levels[3].box1[0, 0] = torch.tensor([0.1, 0.0, math.log(2.0), 0.0])
    out.levels[3].box2[0, 0] = torch.tensor([0.0, 0.5, 0.0, math.log(0.5)])
    # refined: centre (21.2, 15.5), w = 114, h = 71 -> (-35.8, -20, 78.2, 51)
    # second:  centre (21.2, 51.0), w = 114, h = 35.5 -> (-35.8, 33.25, 78.2, 68.75)
    # P2 anchor 0 (-2, -3, 5, 6), not an STR level: box1 is ignored.
    out.levels[0].cls2[0, 0] = logit(0.7)
    out.levels[0].box1[0, 0] = torch.tensor([5.0, 5.0, 1.0, 1.0])
    out.levels[0].box2[0, 0] = torch.tensor([0.0, 0.5, 0.0, math.log(0.5)])
    # w = 7, h = 9, centre (1.5, 1.5) -> centre (1.5, 6.0), h = 4.5 -> (-2, 3.75, 5, 8.25)
    (det,) = detect_boxes(out, all_anchors(SIZES))
    assert det.levels.tolist() == [3, 0]
    expected = torch.tensor([[-35.8, 33.25, 78.2, 68.75], [-2.0, 3.75, 5.0, 8.25]])
    torch.testing.assert_close(det.boxes, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(det.scores, torch.tensor([0.8, 0.7]))


# ------------------------------------------------------------------- small-level threshold


@pytest.mark.parametrize(
    ("size", "kept"),
    [
        ((12, 10), False),  # 120 cells: threshold 0.05
        ((7, 17), True),  # 119 cells: threshold 0.0
        ((10, 6), True),  # 60 cells but 120 anchors: cells count, so threshold 0.0
    ],
)
def test_small_levels_use_a_zero_threshold_by_cells(size, kept):
    sizes = [size] + SIZES[1:]
    out = make_output(sizes=sizes)
    out.levels[0].cls2[0, 7] = -20.0  # score ~2e-9
    out.levels[0].cls2[0, 30] = NEVER  # score exactly 0: never above a 0.0 threshold
    dets = detect_boxes(out, all_anchors(sizes))
    assert len(dets[0]) == (1 if kept else 0)


def test_small_level_still_applies_the_first_step_threshold():
    sizes = [(7, 17)] + SIZES[1:]
    out = make_output(sizes=sizes)
    out.levels[0].cls2[0, 7] = logit(0.9)
    out.levels[0].cls1[0, 7] = logit(0.005)
    assert len(detect_boxes(out, all_anchors(sizes))[0]) == 0


# ------------------------------------------------------------------------------ top-k / NMS


def test_pre_nms_top_k_per_level_by_score_and_keep_top_k():
    out = make_output()
    cells = [(0, 0), (0, 5), (5, 0), (5, 5), (10, 5)]  # 20 px apart: P2 anchors do not overlap
    scores = [0.6, 0.9, 0.5, 0.8, 0.7]
    for (i, j), s in zip(cells, scores):
        out.levels[0].cls2[0, anchor_index(i, j, 0)] = logit(s)
    out.levels[5].cls2[0, 0] = logit(0.65)
    cfg = InferenceConfig(pre_nms_top_k=3)
    (det,) = detect_boxes(out, all_anchors(SIZES), cfg)
    torch.testing.assert_close(det.scores, torch.tensor([0.9, 0.8, 0.7, 0.65]))
    assert det.levels.tolist() == [0, 0, 0, 5]
    (det,) = detect_boxes(out, all_anchors(SIZES), InferenceConfig(pre_nms_top_k=3, keep_top_k=2))
    torch.testing.assert_close(det.scores, torch.tensor([0.9, 0.8]))


def test_nms_uses_the_inclusive_iou():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]])
    scores = torch.tensor([0.9, 0.8])
    # exclusive IoU 2/6 < 0.4 (torchvision alone keeps both); inclusive IoU 6/12 = 0.5 >= 0.4
    assert nms(a, scores, 0.4).tolist() == [0, 1]
    assert box_iou_plus_one(a, a)[0, 1].item() == pytest.approx(0.5)
    assert nms_plus_one(a, scores, 0.4).tolist() == [0]


def test_nms_suppresses_strictly_above_the_threshold():
    # inclusive IoU exactly 0.4: 4·7 / (49 + 49 − 28) = 28 / 70 — kept, as in the authors' kernel
    a = torch.tensor([[0.0, 0.0, 6.0, 6.0], [3.0, 0.0, 9.0, 6.0]])
    scores = torch.tensor([0.9, 0.8])
    assert nms_plus_one(a, scores, 0.4).tolist() == [0, 1]
    assert nms_plus_one(a.double(), scores.double(), 0.4).tolist() == [0, 1]
    assert nms_plus_one(a, scores, 0.39).tolist() == [0]


def test_nms_merges_levels_inside_detect_boxes():
    out = make_output()
    # P2 anchor at cell (0, 0) decoded onto (0, 0, 2, 2) and its neighbour onto (1, 0, 3, 2), on P3
    anchors = all_anchors(SIZES)
    out.levels[0].cls2[0, 0] = logit(0.9)
    out.levels[0].box2[0, 0] = encode(torch.tensor([0.0, 0.0, 2.0, 2.0]), anchors[0][0])
    out.levels[1].cls2[0, 0] = logit(0.8)
    out.levels[1].box2[0, 0] = encode(torch.tensor([1.0, 0.0, 3.0, 2.0]), anchors[1][0])
    (det,) = detect_boxes(out, anchors)
    assert det.levels.tolist() == [0]
    torch.testing.assert_close(det.boxes, torch.tensor([[0.0, 0.0, 2.0, 2.0]]), atol=1e-4, rtol=0)


def test_nothing_above_threshold_gives_empty_detections():
    dets = detect_boxes(make_output(n=2), all_anchors(SIZES))
    assert [len(d) for d in dets] == [0, 0]
    assert dets[0].boxes.shape == (0, 4) and dets[0].levels.dtype == torch.long


def test_boxes_are_not_clipped_unless_asked():
    out = make_output()
    out.levels[5].cls2[0, 0] = logit(0.9)  # P7 anchor 0 sticks out: (-50, -78, 177, 205)
    (det,) = detect_boxes(out, all_anchors(SIZES), image_sizes=[(100, 150)])
    torch.testing.assert_close(det.boxes, torch.tensor([[-50.0, -78.0, 177.0, 205.0]]))
    (det,) = detect_boxes(out, all_anchors(SIZES), image_sizes=[(100, 150)], clip=True)
    torch.testing.assert_close(det.boxes, torch.tensor([[0.0, 0.0, 149.0, 99.0]]))


def test_batch_of_two_equals_two_single_calls():
    g = torch.Generator().manual_seed(3)
    sizes = [(12, 10), (6, 5), (6, 5), (4, 4), (2, 2), (1, 1)]  # small levels too
    out = make_output(n=2, sizes=sizes)
    for lv in out.levels:
        lv.cls2.copy_(torch.randn(lv.cls2.shape, generator=g) * 2 - 2)
        lv.cls1.copy_(torch.randn(lv.cls1.shape, generator=g) * 2)
        lv.box1.copy_(torch.randn(lv.box1.shape, generator=g) * 0.2)
        lv.box2.copy_(torch.randn(lv.box2.shape, generator=g) * 0.2)
    anchors = all_anchors(sizes)
    cfg = InferenceConfig(keep_top_k=40)
    batch = detect_boxes(out, anchors, cfg)
    assert len(batch) == 2
    for b in range(2):
        one_image = slice(b, b + 1)
        single = SRNOutput(
            [
                LevelOutput(
                    lv.cls2[one_image], lv.box2[one_image], lv.cls1[one_image], lv.box1[one_image], lv.size, lv.stride
                )
                for lv in out.levels
            ]
        )
        (one,) = detect_boxes(single, anchors, cfg)
        assert 0 < len(one) <= 40
        assert set(one.levels.tolist()) & {3, 4, 5}
        torch.testing.assert_close(batch[b].boxes, one.boxes)
        torch.testing.assert_close(batch[b].scores, one.scores)
        assert torch.equal(batch[b].levels, one.levels)
        assert torch.all(one.scores[:-1] >= one.scores[1:])
    assert not torch.equal(batch[0].scores, batch[1].scores)


# ------------------------------------------------------------------------------ box voting


def unpack(det: Detections):
    assert det.levels.tolist() == [-1] * len(det)
    return det.boxes, det.scores


def reference_vote(boxes, scores, iou=0.5, drop_singletons=True, keep=750):
    """A plain-loop statement of the authors' voting rules, for comparison."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    pool = [(boxes[i].tolist(), float(scores[i])) for i in order]
    out = []
    while pool:
        top = pool[0][0]
        members, rest = [], []
        for b, s in pool:
            iw = max(0.0, min(top[2], b[2]) - max(top[0], b[0]) + 1)
            ih = max(0.0, min(top[3], b[3]) - max(top[1], b[1]) + 1)
            inter = iw * ih
            union = (top[2] - top[0] + 1) * (top[3] - top[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
            (members if inter / union >= iou else rest).append((b, s))
        pool = rest
        if len(members) <= 1 and drop_singletons:
            continue
        total = sum(s for _, s in members)
        out.append(([sum(b[k] * s for b, s in members) / total for k in range(4)], max(s for _, s in members)))
    return out[:keep]


def crafted():
    boxes = torch.tensor(
        [
            [2.0, 0.0, 12.0, 10.0],  # B: joins A (IoU 99 / 143)
            [100.0, 100.0, 110.0, 110.0],  # C: alone
            [0.0, 0.0, 10.0, 10.0],  # A
            [50.0, 52.0, 60.0, 62.0],  # E: joins D
            [50.0, 50.0, 60.0, 60.0],  # D
        ],
        dtype=torch.float64,
    )
    scores = torch.tensor([0.3, 0.8, 0.9, 0.5, 0.7], dtype=torch.float64)
    return boxes, scores


def test_box_voting_weighted_means_max_scores_and_singleton_dropping():
    boxes, scores = crafted()
    vb, vs = unpack(box_voting(boxes, scores))
    expected = torch.tensor(
        [[0.6 / 1.2, 0.0, 12.6 / 1.2, 10.0], [50.0, 61.0 / 1.2, 60.0, 73.0 / 1.2]], dtype=torch.float64
    )
    torch.testing.assert_close(vb, expected)
    torch.testing.assert_close(vs, torch.tensor([0.9, 0.7], dtype=torch.float64))

    vb, vs = unpack(box_voting(boxes, scores, drop_singletons=False))
    torch.testing.assert_close(vs, torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64))
    torch.testing.assert_close(vb[1], boxes[1])

    vb, vs = unpack(box_voting(boxes, scores, keep=1))
    torch.testing.assert_close(vs, torch.tensor([0.9], dtype=torch.float64))


def test_box_voting_clusters_with_the_leading_box_only_and_includes_iou_equal_threshold():
    # A-B inclusive IoU exactly 0.5 (54 / 108); C overlaps B but not A (IoU 27 / 135)
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0], [3.0, 0.0, 11.0, 8.0], [6.0, 0.0, 14.0, 8.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    vb, vs = unpack(box_voting(boxes, scores))
    assert vs.tolist() == pytest.approx([0.9])
    torch.testing.assert_close(vb, ((boxes[0] * 0.9 + boxes[1] * 0.8) / 1.7)[None])
    vb, vs = unpack(box_voting(boxes, scores, drop_singletons=False))
    assert vs.tolist() == pytest.approx([0.9, 0.7])


def test_box_voting_matches_a_plain_loop_on_random_boxes():
    g = torch.Generator().manual_seed(7)
    xy = torch.rand(150, 2, generator=g, dtype=torch.float64) * 120
    wh = torch.rand(150, 2, generator=g, dtype=torch.float64) * 30 + 5
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(150, generator=g, dtype=torch.float64)
    for drop, keep in [(True, 750), (False, 750), (True, 5)]:
        vb, vs = unpack(box_voting(boxes, scores, drop_singletons=drop, keep=keep))
        ref = reference_vote(boxes, scores, drop_singletons=drop, keep=keep)
        assert len(ref) > 3 and vb.shape == (len(ref), 4)
        torch.testing.assert_close(vb, torch.tensor([b for b, _ in ref], dtype=torch.float64))
        torch.testing.assert_close(vs, torch.tensor([s for _, s in ref], dtype=torch.float64))


def test_box_voting_edge_cases():
    vb, vs = unpack(box_voting(torch.zeros(0, 4), torch.zeros(0)))
    assert vb.shape == (0, 4) and vs.shape == (0,)
    vb, vs = unpack(box_voting(torch.tensor([[0.0, 0.0, 5.0, 5.0]]), torch.tensor([0.5])))  # only a singleton
    assert vb.shape == (0, 4)
    # all-zero scores: plain mean instead of 0 / 0
    vb, vs = unpack(box_voting(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 12.0]]), torch.zeros(2)))
    torch.testing.assert_close(vb, torch.tensor([[0.0, 0.0, 10.0, 11.0]]))


def test_vote_detections_votes_clips_and_drops_zero_scores():
    boxes, scores = crafted()
    dets = [
        Detections(boxes[:3].float(), scores[:3].float(), torch.zeros(3, dtype=torch.long)),
        Detections(boxes[3:].float(), scores[3:].float(), torch.ones(2, dtype=torch.long)),
        Detections(torch.zeros(2, 4), torch.zeros(2), torch.zeros(2, dtype=torch.long)),  # score-0 rows
    ]
    det = vote_detections(dets, height=58, width=11)
    torch.testing.assert_close(det.scores, torch.tensor([0.9, 0.7]))
    torch.testing.assert_close(det.boxes, torch.tensor([[0.5, 0.0, 10.0, 10.0], [10.0, 61.0 / 1.2, 10.0, 57.0]]))
    assert det.levels.tolist() == [-1, -1]


# ----------------------------------------------------------------------- multi-scale helpers


def test_flip_boxes_inclusive_convention():
    boxes = torch.tensor([[10.0, 5.0, 29.0, 40.0]])
    torch.testing.assert_close(flip_boxes(boxes, 100), torch.tensor([[70.0, 5.0, 89.0, 40.0]]))
    torch.testing.assert_close(flip_boxes(flip_boxes(boxes, 100), 100), boxes)
    # Pixel check: columns 10..29 of a 100 px row land on columns 70..89 once flipped.
    row = torch.zeros(100)
    row[10:30] = 1
    lit = row.flip(0).nonzero().flatten()
    assert (lit.min().item(), lit.max().item()) == (70, 89)


def test_scale_boxes_undoes_a_resize_with_pixel_centres():
    boxes = torch.tensor([[10.0, 10.0, 19.0, 19.0]])
    torch.testing.assert_close(scale_boxes(boxes, 0.5), torch.tensor([[20.5, 20.5, 38.5, 38.5]]))
    torch.testing.assert_close(scale_boxes(boxes, 1.0), boxes)
    torch.testing.assert_close(scale_boxes(boxes, 2.0), (boxes - 0.5) / 2)
    # inverse of the forward pixel-centre map x' = x·f + (f − 1)/2
    f = 1.5
    torch.testing.assert_close(scale_boxes(boxes * f + (f - 1) / 2, f), boxes)


def test_filter_by_size_uses_inclusive_larger_and_smaller_sides():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 30.0, 9.0],  # 31 × 10: larger side 31 > 30
            [0.0, 0.0, 29.0, 29.0],  # 30 × 30: not > 30
            [0.0, 0.0, 98.0, 149.0],  # 99 × 150: smaller side 99 < 100
            [0.0, 0.0, 99.0, 99.0],  # 100 × 100: not < 100
        ]
    )
    det = Detections(boxes, torch.tensor([0.9, 0.8, 0.7, 0.6]), torch.arange(4))
    assert filter_by_size(det, min_size=30).levels.tolist() == [0, 2, 3]
    assert filter_by_size(det, max_size=100).levels.tolist() == [0, 1, 2]
    assert filter_by_size(det, min_size=30, max_size=100).levels.tolist() == [0, 2]
    assert filter_by_size(det).levels.tolist() == [0, 1, 2, 3]


def test_concat_and_clip_detections():
    a = Detections(torch.tensor([[-5.0, -2.0, 130.0, 70.0]]), torch.tensor([0.9]), torch.tensor([0]))
    b = Detections(torch.tensor([[10.0, 10.0, 20.0, 20.0]]), torch.tensor([0.8]), torch.tensor([4]))
    both = concat([a, b])
    assert len(both) == 2 and both.levels.tolist() == [0, 4]
    clipped = clip_detections(both, 60, 120)
    torch.testing.assert_close(clipped.boxes, torch.tensor([[0.0, 0.0, 119.0, 59.0], [10.0, 10.0, 20.0, 20.0]]))
    torch.testing.assert_close(clipped.scores, both.scores)
    assert len(concat([])) == 0


def test_clip_boxes_to_last_pixel():
    boxes = torch.tensor([[-5.0, -2.0, 130.0, 70.0], [10.0, 10.0, 20.0, 20.0]])
    clipped = clip_boxes(boxes, height=60, width=120)
    torch.testing.assert_close(clipped, torch.tensor([[0.0, 0.0, 119.0, 59.0], [10.0, 10.0, 20.0, 20.0]]))
    assert boxes[0, 0].item() == -5.0  # input untouched


def test_chunked_nms_with_early_stop_equals_full_greedy_nms():
    """The max_keep path must keep exactly what full NMS keeps first."""
    from srn.engine.postprocess import NMS_CHUNK, nms_plus_one

    gen = torch.Generator().manual_seed(0)
    n = 3 * NMS_CHUNK + 123
    xy = torch.rand(n, 2, generator=gen) * 300
    wh = torch.rand(n, 2, generator=gen) * 40 + 4
    boxes = torch.cat([xy, xy + wh], dim=1)
    scores = torch.rand(n, generator=gen)
    full = nms_plus_one(boxes, scores, 0.4)
    for max_keep in (10, 750, len(full), n):
        assert torch.equal(nms_plus_one(boxes, scores, 0.4, max_keep=max_keep), full[:max_keep])
