"""SRN training loss (srn.model.loss): focal loss, level masks, STC, STR refinement, weights."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss as tv_focal

from srn.model.anchors import all_anchors
from srn.model.box_geometry import decode, encode
from srn.model.config import SRNConfig
from srn.model.loss import LossConfig, SRNLoss, Target
from srn.model.outputs import LevelOutput, SRNOutput

CFG = SRNConfig()
SIZES = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]  # a 64 × 64 input
ANCHORS = all_anchors(SIZES, CFG)
P2_ANCHOR = ANCHORS[0][(3 * 16 + 3) * 2]  # P2, cell (3, 3), scale 2: (10, 9, 17, 18)
P5_INDEX = (1 * 2 + 1) * 2  # P5, cell (1, 1), scale 2
P5_ANCHOR = ANCHORS[3][P5_INDEX]  # (19, 12, 76, 83)


def make_output(n=1, seed=0, all_first_step=True, cls_scale=1.0):
    """Hand-made outputs, leaf tensors requiring grad; first-step outputs on every level when
    ``all_first_step`` (as the naive network computes them), else only where SRN keeps them."""
    gen = torch.Generator().manual_seed(seed)
    levels = []
    for li, ((h, w), stride) in enumerate(zip(SIZES, CFG.strides)):
        m = h * w * CFG.anchors_per_cell

        def leaf(*shape, scale=0.1, m=m):
            return (torch.randn(n, m, *shape, generator=gen) * scale).requires_grad_()

        cls1 = leaf(scale=cls_scale) if all_first_step or li in CFG.stc_levels else None
        box1 = leaf(4) if all_first_step or li in CFG.str_levels else None
        levels.append(LevelOutput(cls2=leaf(scale=cls_scale), box2=leaf(4), cls1=cls1, box1=box1, size=(h, w),
                                  stride=stride))
    return SRNOutput(levels)


def zero_grads(out):
    for lv in out.levels:
        for t in (lv.cls1, lv.box1, lv.cls2, lv.box2):
            if t is not None:
                t.grad = None


def faces(*rows):
    return Target(torch.stack([torch.as_tensor(r, dtype=torch.float32) for r in rows]))


# ------------------------------------------------------------------------------ focal loss


def test_negative_image_cls2_is_the_torchvision_sum_over_all_anchors():
    out = make_output(seed=2)
    loss = SRNLoss(CFG, LossConfig(stc_background_threshold=1.0))  # no STC filtering
    terms = loss(out, ANCHORS, [Target(torch.zeros((0, 4)))])
    cls2 = torch.cat([lv.cls2 for lv in out.levels], 1)
    torch.testing.assert_close(terms["cls2"], tv_focal(cls2, torch.zeros_like(cls2), reduction="sum"))
    assert terms["box1"].item() == 0.0 and terms["box2"].item() == 0.0
    assert set(terms) == {"cls1", "box1", "cls2", "box2", "total"}
    torch.testing.assert_close(terms["total"], terms["cls1"] + terms["box1"] + terms["cls2"] + terms["box2"])


# ------------------------------------------------------------------------------ level masks


def test_first_step_classification_only_on_stc_and_regression_only_on_str_levels():
    out = make_output(seed=3)
    target = faces(P2_ANCHOR, P5_ANCHOR)  # positives on P2 and on P5
    SRNLoss(CFG)(out, ANCHORS, [target])["total"].backward()
    for li, lv in enumerate(out.levels):
        if li in CFG.stc_levels:
            assert lv.cls1.grad is not None and lv.cls1.grad.abs().sum() > 0
            assert lv.box1.grad is None
        else:
            assert lv.cls1.grad is None
            assert lv.box1.grad is not None
        assert lv.cls2.grad is not None
        if li not in CFG.stc_levels:  # no STC filter there: every anchor is a negative or positive
            assert lv.cls2.grad.abs().min() > 0
        assert lv.box2.grad is not None
    assert out.levels[3].box1.grad[0, P5_INDEX].abs().sum() > 0  # the P5 positive regresses


def test_the_network_s_selective_outputs_are_enough():
    out = make_output(seed=4, all_first_step=False)
    terms = SRNLoss(CFG)(out, ANCHORS, [faces(P2_ANCHOR, P5_ANCHOR)])
    assert all(torch.isfinite(v) for v in terms.values())
    out.levels[0].cls1 = None
    with pytest.raises(ValueError, match="STC"):
        SRNLoss(CFG)(out, ANCHORS, [faces(P2_ANCHOR)])


# ------------------------------------------------------------------------------ STC


def test_stc_drops_easy_background_from_the_second_step_classification():
    out = make_output(seed=5)
    k = 40  # a P2 anchor far from the face: a negative in both steps
    target = faces([200.0, 200.0, 240.0, 250.0])
    loss = SRNLoss(CFG)
    with torch.no_grad():
        out.levels[0].cls1[0, k] = -10.0  # σ ≈ 4.5e-5 < 0.01: background confidence > 0.99
        out.levels[0].cls1[0, k + 1] = 0.0  # σ = 0.5: kept
    loss(out, ANCHORS, [target])["total"].backward()
    g = out.levels[0].cls2.grad[0]
    assert g[k].item() == 0.0
    assert g[k + 1].item() > 0  # a kept negative pushes its logit down
    # The first step itself still learns on that anchor.
    assert out.levels[0].cls1.grad[0, k].item() != 0.0


def test_stc_keeps_positives_by_default_and_drops_them_on_request():
    k = (3 * 16 + 3) * 2  # P2_ANCHOR, a positive of the face in both steps
    for filter_pos, kept in ((False, True), (True, False)):
        out = make_output(seed=6)
        with torch.no_grad():
            out.levels[0].cls1[0, k] = -10.0
        terms = SRNLoss(CFG, LossConfig(stc_filter_positives=filter_pos))(out, ANCHORS, [faces(P2_ANCHOR)])
        terms["total"].backward()
        g_cls, g_box = out.levels[0].cls2.grad[0, k].item(), out.levels[0].box2.grad[0, k].abs().sum().item()
        if kept:
            assert g_cls < 0 and g_box > 0  # positive: logit pushed up, box regressed
        else:
            assert g_cls == 0.0 and g_box == 0.0


# ------------------------------------------------------------------------------ STR


def _p5_cls2_grad_and_box2_grad(box1_row: torch.Tensor):
    out = make_output(seed=7)
    face = torch.tensor([150.0, 150.0, 209.0, 221.0])  # far from the P5 cell-(0,0) anchor
    with torch.no_grad():
        out.levels[3].box1.zero_()
        out.levels[3].box1[0, 0] = box1_row
        out.levels[3].box2.zero_()
    SRNLoss(CFG)(out, ANCHORS, [Target(face[None])])["total"].backward()
    return out.levels[3].cls2.grad[0, 0].item(), out.levels[3].box2.grad[0, 0].abs().sum().item(), out


def test_second_step_matches_str_levels_against_refined_anchors():
    face = torch.tensor([150.0, 150.0, 209.0, 221.0])
    anchor = ANCHORS[3][0]
    # Plain anchor: a negative in the second step.
    g_cls, _, _ = _p5_cls2_grad_and_box2_grad(torch.zeros(4))
    assert g_cls > 0
    # First-step deltas that move it onto the face: a positive, with zero regression left.
    deltas = encode(face[None], anchor[None])[0]
    torch.testing.assert_close(decode(deltas[None], anchor[None])[0], face)
    g_cls, g_box, out = _p5_cls2_grad_and_box2_grad(deltas)
    assert g_cls < 0
    assert g_box == 0.0  # box2 = 0 is exactly the target relative to the refined anchor
    # The refinement is not differentiated through (box1.detach() in the matching).
    assert out.levels[3].box1.grad[0, 0].abs().sum().item() == 0.0


def test_stc_levels_do_not_refine_anchors():
    target = [faces([150.0, 150.0, 209.0, 221.0])]
    base = make_output(seed=8)
    moved = make_output(seed=8)
    with torch.no_grad():  # P2's first-step deltas (computed by the naive network only) are ignored
        moved.levels[0].box1.fill_(3.0)
    a, b = SRNLoss(CFG)(base, ANCHORS, target), SRNLoss(CFG)(moved, ANCHORS, target)
    for key in ("cls2", "box2"):
        torch.testing.assert_close(a[key], b[key])


@pytest.mark.parametrize("dw", [-30.0, 60.0, float("nan")])
def test_degenerate_refined_anchors_are_guarded(dw):
    out = make_output(seed=9)
    with torch.no_grad():
        for li in CFG.str_levels:
            out.levels[li].box1[..., 2:] = dw
    terms = SRNLoss(CFG)(out, ANCHORS, [faces(P5_ANCHOR, P2_ANCHOR)])
    for key in ("cls1", "cls2", "box2"):
        assert torch.isfinite(terms[key]), key
    terms["cls2"].backward()
    if dw < 0 or math.isnan(dw):  # collapsed (or NaN) refined anchors are ignored: no cls2 gradient
        for li in CFG.str_levels:
            assert (out.levels[li].cls2.grad == 0).all()


# ------------------------------------------------------------------------------ weights, targets


def test_face_weights_scale_the_positive_terms_linearly():
    def terms(w):
        out = make_output(seed=10)
        target = Target(torch.stack([P2_ANCHOR, P5_ANCHOR, torch.tensor([30.0, 30.0, 45.0, 49.0])]),
                        weight=torch.tensor([w, w, w]))  # fmt: skip
        return SRNLoss(CFG)(out, ANCHORS, [target])

    t0, t5, t1 = terms(0.0), terms(0.5), terms(1.0)
    for key in ("cls1", "box1", "cls2", "box2", "total"):
        torch.testing.assert_close(t5[key], (t0[key] + t1[key]) / 2)
    assert t0["box1"].item() == 0.0 and t0["box2"].item() == 0.0
    assert t1["box1"] > 0 and t1["box2"] > 0 and t1["cls1"] > t0["cls1"]


def test_one_face_weight_only_touches_its_own_anchors():
    out = make_output(seed=11)
    boxes = torch.stack([P2_ANCHOR, P5_ANCHOR])
    a = SRNLoss(CFG)(out, ANCHORS, [Target(boxes, weight=torch.tensor([1.0, 1.0]))])
    b = SRNLoss(CFG)(out, ANCHORS, [Target(boxes, weight=torch.tensor([1.0, 0.0]))])
    torch.testing.assert_close(a["cls1"], b["cls1"])  # the P5 face has no P2–P4 positives at θp 0.7 ...
    assert b["box1"].item() == 0.0  # ... and is the only first-step face on P5–P7


def test_encode_decode_round_trip_and_zero_regression_loss_at_the_target():
    gen = torch.Generator().manual_seed(12)
    xy = torch.rand(50, 2, generator=gen, dtype=torch.float64) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(50, 2, generator=gen, dtype=torch.float64) * 80], 1)
    anchors = ANCHORS[3].double()[torch.randint(0, 8, (50,), generator=gen)]
    torch.testing.assert_close(decode(encode(boxes, anchors), anchors), boxes)
    # Deltas equal to encode(face, anchor) on every P5 anchor: no first-step regression loss.
    out = make_output(seed=12)
    with torch.no_grad():
        out.levels[3].box1.copy_(encode(P5_ANCHOR.expand(8, 4) + 2.0, ANCHORS[3])[None])
    terms = SRNLoss(CFG)(out, ANCHORS, [faces(P5_ANCHOR + 2.0)])
    assert terms["box1"].item() < 1e-10


def test_sub_2px_faces_become_ignore_regions_and_batches_add_up():
    out = make_output(n=2, seed=13)
    tiny = Target(torch.tensor([[20.0, 20.0, 20.0, 30.0]]))  # 1 px wide: cannot be encoded
    terms = SRNLoss(CFG)(out, ANCHORS, [tiny, Target(torch.zeros((0, 4)))])
    assert all(torch.isfinite(v) for v in terms.values())
    assert terms["box1"].item() == 0.0 and terms["box2"].item() == 0.0
    with pytest.raises(ValueError):
        SRNLoss(CFG)(out, ANCHORS, [tiny])
    with pytest.raises(ValueError):
        Target(torch.zeros((2, 4)), ignore=torch.zeros(3, dtype=torch.bool))


# ------------------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_a_few_sgd_steps_on_one_image_reduce_the_loss():
    from srn.model.srn_net import SRN

    torch.manual_seed(0)
    cfg = SRNConfig(backbone="resnet18", channels=64)
    net = SRN(cfg).train()
    image = torch.randn(1, 3, 128, 128) * 0.2
    boxes = torch.tensor([[20.0, 30, 43, 59], [70, 50, 125, 119], [90, 10, 99, 21]])
    for x1, y1, x2, y2 in boxes.int().tolist():
        image[0, :, y1 : y2 + 1, x1 : x2 + 1] += 1.5
    criterion = SRNLoss(cfg)
    opt = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9)
    anchors, history = None, []
    for _ in range(30):
        out = net(image)
        anchors = anchors or all_anchors([lv.size for lv in out.levels], cfg)
        terms = criterion(out, anchors, [Target(boxes)])
        opt.zero_grad()
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        history.append(terms["total"].item())
    assert all(math.isfinite(v) for v in history)
    assert min(history[-5:]) < 0.5 * history[0], history


# ------------------------------------------------------------------------------ partial labels


def _cls2_grad_at(out, level, index):
    return out.levels[level].cls2.grad[0, index].abs().item()


def test_partly_labelled_images_ignore_background_except_hard_negatives():
    """Pseudo-labelled images (fully_labelled=False): unlabelled background gives no loss, a
    region a person rejected still does; fully labelled images learn from all background."""
    loss = SRNLoss(CFG, LossConfig(stc_background_threshold=1.0))
    face = P2_ANCHOR.tolist()
    rejected = [38.0, 37.0, 45.0, 46.0]  # a P2 anchor's box, far from the face
    hard_index = ANCHORS[0].tolist().index(rejected)
    far_index = 0  # P2 cell (0, 0): background, on neither box

    out = make_output(seed=5)
    loss(out, ANCHORS, [Target(torch.tensor([face]), hard_negatives=torch.tensor([rejected]),
                               fully_labelled=False)])["total"].backward()
    assert _cls2_grad_at(out, 0, hard_index) > 0, "the rejected region is a negative"
    assert _cls2_grad_at(out, 0, far_index) == 0, "unlabelled background is ignored"

    out = make_output(seed=5)
    loss(out, ANCHORS, [Target(torch.tensor([face]))])["total"].backward()
    assert _cls2_grad_at(out, 0, far_index) > 0, "fully labelled: background is negative"


def test_hard_negatives_override_ignore_regions():
    loss = SRNLoss(CFG, LossConfig(stc_background_threshold=1.0))
    region = [36.0, 36.0, 51.0, 51.0]  # an ignore region around a P2 anchor
    rejected = [38.0, 37.0, 45.0, 46.0]
    idx = ANCHORS[0].tolist().index(rejected)
    out = make_output(seed=6)
    loss(out, ANCHORS, [Target(torch.tensor([region]), ignore=torch.tensor([True]))])["total"].backward()
    assert _cls2_grad_at(out, 0, idx) == 0  # inside an ignore region
    out = make_output(seed=6)
    loss(out, ANCHORS, [Target(torch.tensor([region]), ignore=torch.tensor([True]),
                               hard_negatives=torch.tensor([rejected]))])["total"].backward()
    assert _cls2_grad_at(out, 0, idx) > 0  # the person said "not a face" there
