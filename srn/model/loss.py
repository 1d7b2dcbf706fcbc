"""SRN's training loss (Chi et al., AAAI 2019, Sec. "Selective Two-step Classification/Regression").

The authors released no training code; this follows the paper, with the choices below.

**Targets.** :class:`Target` holds one image's faces as x1 y1 x2 y2 in the detector's
coordinates, which are the project's **inclusive pixel extents** (``srn.formats``: a face on
columns 10..19 is ``x1 = 10, x2 = 19``) — label-file boxes go in unchanged, only rescaled /
shifted / flipped with the image (``x1' = W − x2 − 1``, as ``box_geometry.flip_boxes``). That is
what the decoded boxes *are* at test time: the authors' pipeline clips them to ``[0, W − 1]``,
flips them with ``W − x − 1``, NMSes and votes with "+1" IoU and writes ``w = x2 − x1 + 1``.
:func:`srn.model.box_geometry.decode` only *parametrises* the deltas with the exclusive width
``x2 − x1``; since :func:`~srn.model.box_geometry.encode` is its exact inverse, training on
``encode(face, anchor)`` makes the network output the face in the same inclusive coordinates
(adding 1 to x2 would bias every detection by a pixel). A real face must be at least 2 px
inclusive (exclusive width ≥ 1) on each side; narrower ones are treated as ignore regions, so
``encode`` never sees a width ≤ 0.

**Matching** (:func:`srn.model.matching.match`, all levels of an image at once, "+1" IoU,
best-anchor rule, ignore regions as IoU ≥ θn or intersection-over-anchor ≥ 0.5):

* first step, plain anchors, θn 0.3 / θp 0.7: classification (``cls1``) on the STC levels
  (P2–P4) only, regression (``box1``) on the STR levels (P5–P7) only;
* second step, θn 0.4 / θp 0.5, against the first-step-refined anchors
  ``decode(box1.detach(), anchors)`` on the STR levels and the plain anchors elsewhere;
  ``cls2`` and ``box2`` on every level. A refined anchor that is degenerate (not finite, or an
  exclusive width or height < ``min_refined_size``) is ignored in the second step.

**STC.** On an STC level, an anchor whose first-step background confidence
``1 − σ(cls1)`` is ``> stc_background_threshold`` (0.99) is left out of the second-step
classification loss. The paper describes this as filtering out *negative* anchors ("filter out
most simple negative anchors"), so by default only second-step negatives are dropped; a
positive always keeps its second-step terms (test time discards such an anchor anyway, and the
first-step loss on it is what pulls its σ(cls1) up). ``stc_filter_positives=True`` drops
positives too (RefineDet's released ``multibox_loss`` does that), from ``cls2`` and ``box2`` and
from the positive count.

**Terms.** ``cls*``: sigmoid focal loss (α 0.25, γ 2, ``torchvision.ops.sigmoid_focal_loss``
element-wise) summed over the non-ignored anchors of the term's levels;
``box*``: smooth L1 (``beta`` 1/9, Detectron's RetinaNet value; the paper does not give one)
summed over the 4 coordinates of the positives, against ``encode(face, anchor)``. Each term is
divided by its own number of positive anchors over the batch (the *count*, not the weight sum;
at least 1): ``cls1`` by the first-step positives on the STC levels, ``box1`` by those on the
STR levels, ``cls2``/``box2`` by the second-step positives. A face's ``weight`` multiplies the
positive terms (focal and smooth L1) of the anchors matched to it; negatives weigh 1.
``total = cls1 + box1 + cls2 + box2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import sigmoid_focal_loss

from srn.model.box_geometry import box_iou_plus_one, decode, encode
from srn.model.config import SRNConfig
from srn.model.matching import match
from srn.model.outputs import SRNOutput

__all__ = ["LossConfig", "Target", "SRNLoss", "TERMS"]

TERMS = ("cls1", "box1", "cls2", "box2", "total")


@dataclass(frozen=True)
class LossConfig:
    first_neg_iou: float = 0.3
    first_pos_iou: float = 0.7
    second_neg_iou: float = 0.4
    second_pos_iou: float = 0.5
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    smooth_l1_beta: float = 1.0 / 9.0
    stc_background_threshold: float = 0.99
    stc_filter_positives: bool = False
    ignore_ioa: float = 0.5  # an anchor inside an ignore region by this fraction of its area is ignored
    min_refined_size: float = 1.0  # exclusive px; smaller refined anchors are ignored in step two
    max_delta: float = math.log(1000.0 / 16.0)  # cap of dw, dh when refining (as inference does)


@dataclass
class Target:
    """One image's faces: ``boxes`` (G, 4) inclusive x1 y1 x2 y2 in the network input's pixels;
    ``ignore`` (G,) bool, default all False; ``weight`` (G,) float per-face weight of the
    positive terms, default 1 (e.g. 0.5 for pseudo-labels). No faces: an image of negatives."""

    boxes: Tensor
    ignore: Tensor | None = None
    weight: Tensor | None = None
    # Regions a person rejected as "not a face": anchors overlapping them (IoU ≥ the step's
    # negative threshold, not positive for a face) are negatives even where they would be ignored.
    hard_negatives: Tensor | None = None
    # False for images only partly labelled (pseudo-labels): there, background anchors that are
    # not on a hard negative are ignored — an unlabelled region may hold a missed face.
    fully_labelled: bool = True

    def __post_init__(self) -> None:
        boxes = torch.as_tensor(self.boxes)
        if boxes.numel() == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.dim() != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (G, 4), got {tuple(boxes.shape)}")
        g = boxes.shape[0]
        self.boxes = boxes if boxes.is_floating_point() else boxes.float()
        if self.ignore is None:
            self.ignore = torch.zeros(g, dtype=torch.bool, device=boxes.device)
        self.ignore = torch.as_tensor(self.ignore, device=boxes.device).to(torch.bool)
        if self.weight is None:
            self.weight = torch.ones(g, dtype=self.boxes.dtype, device=boxes.device)
        self.weight = torch.as_tensor(self.weight, device=boxes.device).to(self.boxes.dtype)
        if self.ignore.shape != (g,) or self.weight.shape != (g,):
            raise ValueError(f"ignore and weight must be ({g},), "
                             f"got {tuple(self.ignore.shape)}, {tuple(self.weight.shape)}")
        hard = torch.as_tensor(self.hard_negatives if self.hard_negatives is not None else torch.zeros(0, 4),
                               device=boxes.device)
        self.hard_negatives = hard.reshape(-1, 4).to(self.boxes.dtype)
        self.fully_labelled = bool(self.fully_labelled)

    def to(self, device: torch.device | str) -> Target:
        assert self.ignore is not None and self.weight is not None and self.hard_negatives is not None  # __post_init__
        return Target(self.boxes.to(device), self.ignore.to(device), self.weight.to(device),
                      self.hard_negatives.to(device), self.fully_labelled)


def _cat(tensors: list[Tensor], dim: int, like: Tensor, tail: tuple[int, ...]) -> Tensor:
    if tensors:
        return torch.cat(tensors, dim=dim)
    return like.new_zeros((like.shape[0], 0, *tail))


class SRNLoss(nn.Module):
    """``forward(output, anchors, targets)`` → ``{"cls1", "box1", "cls2", "box2", "total"}``."""

    def __init__(self, config: SRNConfig = SRNConfig(), loss_cfg: LossConfig = LossConfig()) -> None:
        super().__init__()
        self.config = config
        self.loss_cfg = loss_cfg

    # --------------------------------------------------------------------------- helpers

    def _focal(self, logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
        """Sum over anchors with labels ≥ 0 of weight × focal loss. All (N, M)."""
        keep = labels >= 0
        if not bool(keep.any()):
            return logits.sum() * 0.0 + 0.0
        x = logits[keep].float()
        t = (labels[keep] == 1).to(x.dtype)
        fl = sigmoid_focal_loss(x, t, self.loss_cfg.focal_alpha, self.loss_cfg.focal_gamma, reduction="none")
        return (fl * weights[keep]).sum()

    def _smooth_l1(self, deltas: Tensor, labels: Tensor, boxes: Tensor, anchors: Tensor, weights: Tensor) -> Tensor:
        """Sum over positives of weight × smooth L1(deltas, encode(box, anchor)).

        deltas (N, M, 4); labels, weights (N, M); boxes, anchors (N, M, 4) (matched face, anchor)."""
        pos = labels == 1
        if not bool(pos.any()):
            return deltas.sum() * 0.0 + 0.0
        target = encode(boxes[pos], anchors[pos])
        d = deltas[pos].float()
        loss = F.smooth_l1_loss(d, target.to(d.dtype), reduction="none", beta=self.loss_cfg.smooth_l1_beta)
        return (loss.sum(dim=-1) * weights[pos]).sum()

    @staticmethod
    def _gather(values: Tensor, gt_index: Tensor, fill: float) -> Tensor:
        """values (G, ...) indexed by gt_index (M,), with ``fill`` where the index is -1."""
        if values.shape[0] == 0:
            return values.new_full((gt_index.shape[0], *values.shape[1:]), fill)
        out = values[gt_index.clamp(min=0)]
        mask = (gt_index < 0).view(-1, *([1] * (values.dim() - 1)))
        return out.masked_fill(mask, fill)

    # --------------------------------------------------------------------------- forward

    def forward(
        self,
        output: SRNOutput,
        anchors: Sequence[Tensor],
        targets: Sequence[Target],
        count_reducer: Callable[[Tensor], Tensor] | None = None,
    ) -> dict[str, Tensor]:
        cfg, lc = self.config, self.loss_cfg
        levels = output.levels
        if len(anchors) != len(levels):
            raise ValueError(f"{len(levels)} output levels but {len(anchors)} anchor tensors")
        n = levels[0].cls2.shape[0]
        if len(targets) != n:
            raise ValueError(f"batch of {n} images but {len(targets)} targets")
        stc, str_ = set(cfg.stc_levels), set(cfg.str_levels)
        device = levels[0].cls2.device
        dtype = torch.promote_types(levels[0].box2.dtype, torch.float32)  # float32 under AMP

        # Per-level anchor slices in the concatenated (all levels) order.
        counts = [a.shape[0] for a in anchors]
        offsets = [0]
        for c in counts:
            offsets.append(offsets[-1] + c)
        plain = torch.cat([a.to(device=device, dtype=dtype) for a in anchors])  # (M, 4)
        for li, (lv, c) in enumerate(zip(levels, counts)):
            if lv.cls2.shape != (n, c):
                raise ValueError(f"level {li}: cls2 {tuple(lv.cls2.shape)} but {c} anchors")
            if li in stc and lv.cls1 is None:
                raise ValueError(f"level {li} is an STC level but has no first-step logits (cls1)")
            if li in str_ and lv.box1 is None:
                raise ValueError(f"level {li} is an STR level but has no first-step deltas (box1)")

        stc_idx = torch.cat([torch.arange(offsets[i], offsets[i + 1], device=device) for i in sorted(stc)] or
                            [torch.zeros(0, dtype=torch.long, device=device)])
        str_idx = torch.cat([torch.arange(offsets[i], offsets[i + 1], device=device) for i in sorted(str_)] or
                            [torch.zeros(0, dtype=torch.long, device=device)])

        # Second-step anchors: refined on STR levels (no gradient through the matching).
        second = plain.unsqueeze(0).expand(n, -1, -1).clone()  # (N, M, 4)
        second_valid = torch.ones(n, plain.shape[0], dtype=torch.bool, device=device)
        with torch.no_grad():
            for li in sorted(str_):
                s, e = offsets[li], offsets[li + 1]
                if e == s:
                    continue
                deltas1 = levels[li].box1
                assert deltas1 is not None  # an STR level (checked above)
                ref = decode(deltas1.detach().to(dtype), plain[s:e], lc.max_delta)
                w = ref[..., 2] - ref[..., 0]
                h = ref[..., 3] - ref[..., 1]
                ok = torch.isfinite(ref).all(dim=-1) & (w >= lc.min_refined_size) & (h >= lc.min_refined_size)
                second[:, s:e] = torch.where(ok[..., None], ref, plain[s:e].expand_as(ref))
                second_valid[:, s:e] = ok

        # Matching, one image at a time.
        labs1: list[Tensor] = []
        labs2: list[Tensor] = []
        boxes1: list[Tensor] = []
        boxes2: list[Tensor] = []
        weights1: list[Tensor] = []
        weights2: list[Tensor] = []
        for b, t in enumerate(targets):
            assert t.ignore is not None and t.weight is not None and t.hard_negatives is not None  # __post_init__
            boxes = t.boxes.to(device=device, dtype=dtype)
            ign = t.ignore.to(device)
            # A "face" under 2 px inclusive cannot be encoded: it becomes an ignore region.
            ign = ign | (boxes[:, 2] - boxes[:, 0] < 1) | (boxes[:, 3] - boxes[:, 1] < 1)
            weight = t.weight.to(device=device, dtype=dtype)
            m1 = match(plain, boxes, ign, lc.first_neg_iou, lc.first_pos_iou, ioa_threshold=lc.ignore_ioa)
            m2 = match(second[b], boxes, ign, lc.second_neg_iou, lc.second_pos_iou,
                       ioa_threshold=lc.ignore_ioa, anchor_valid=second_valid[b])
            hard = t.hard_negatives.to(device=device, dtype=dtype)
            for m, step_anchors, neg_iou in ((m1, plain, lc.first_neg_iou), (m2, second[b], lc.second_neg_iou)):
                on_hard = torch.zeros_like(m.labels, dtype=torch.bool)
                if len(hard):
                    on_hard = (box_iou_plus_one(step_anchors, hard) >= neg_iou).any(dim=1) & (m.labels != 1)
                    m.labels[on_hard] = 0
                if not t.fully_labelled:
                    m.labels[(m.labels == 0) & ~on_hard] = -1
            for m, labs, bx, ws in ((m1, labs1, boxes1, weights1), (m2, labs2, boxes2, weights2)):
                labs.append(m.labels)
                bx.append(self._gather(boxes, m.gt_index, 0.0))
                ws.append(torch.where(m.labels == 1, self._gather(weight, m.gt_index, 1.0), weight.new_ones(())))
        lab1, lab2 = torch.stack(labs1), torch.stack(labs2)  # (N, M)
        box_1, box_2 = torch.stack(boxes1), torch.stack(boxes2)  # (N, M, 4)
        w1, w2 = torch.stack(weights1), torch.stack(weights2)
        # Checked above: every STC level has cls1, every STR level box1.
        cls1_levels = [cast(Tensor, levels[i].cls1) for i in sorted(stc)]
        box1_levels = [cast(Tensor, levels[i].box1) for i in sorted(str_)]

        # STC: drop easy background (first-step confidence) from the second-step classification.
        if stc:
            cls1_stc = torch.cat(cls1_levels, dim=1).detach().to(dtype)
            easy = (1 - torch.sigmoid(cls1_stc)) > lc.stc_background_threshold
            sub = lab2[:, stc_idx]
            drop = easy & ((sub == 0) | ((sub == 1) if lc.stc_filter_positives else torch.zeros_like(easy)))
            lab2[:, stc_idx] = sub.masked_fill(drop, -1)

        # First step: cls1 on STC levels, box1 on STR levels.
        cls1 = _cat(cls1_levels, 1, levels[0].cls2, ())
        box1 = _cat(box1_levels, 1, levels[0].cls2, (4,))
        l1s, l1r = lab1[:, stc_idx], lab1[:, str_idx]
        # Normalisers: positives per term. Under DDP the caller passes a reducer that averages
        # them over the ranks, so N ranks compute exactly the gradient of one process on the
        # global batch (DDP averages gradients; mean count × N = global count).
        positives = torch.stack([(l1s == 1).sum(), (l1r == 1).sum(), (lab2 == 1).sum()]).to(dtype)
        if count_reducer is not None:
            positives = count_reducer(positives)
        num1s, num1r, num2 = positives.clamp(min=1).unbind()
        loss_cls1 = self._focal(cls1, l1s, w1[:, stc_idx]) / num1s
        anchors_r = plain[str_idx].unsqueeze(0).expand(n, -1, -1)
        loss_box1 = self._smooth_l1(box1, l1r, box_1[:, str_idx], anchors_r, w1[:, str_idx]) / num1r

        # Second step: every level.
        cls2 = torch.cat([lv.cls2 for lv in levels], dim=1)
        box2 = torch.cat([lv.box2 for lv in levels], dim=1)
        loss_cls2 = self._focal(cls2, lab2, w2) / num2
        loss_box2 = self._smooth_l1(box2, lab2, box_2, second, w2) / num2

        total = loss_cls1 + loss_box1 + loss_cls2 + loss_box2
        return {"cls1": loss_cls1, "box1": loss_box1, "cls2": loss_cls2, "box2": loss_box2, "total": total}
