"""From SRN's raw per-level outputs to face boxes: the authors' test-time semantics in torch.

Everything follows ChiCheng123/SRN (``srn/model/rpn_proposal.py``, ``srn/model/srn.py``,
``tools/test.py``; numbers in ``shared/reference/srn.md``), vectorised, on the tensors' device,
for a batch of N images with per-image results.

:func:`detect_boxes` (one forward pass), per level and image:

* scores are ``sigmoid`` of the logits; the second-step threshold is
  ``cfg.score_threshold``, or 0.0 on a level whose feature map has fewer than
  ``cfg.small_level_cells`` *cells* (the authors: ``thresh = score_thresh if K >= 120 else 0.0``
  with ``K = featmap_h · featmap_w``); the comparison is strict: ``score > thresh``;
* STC levels (``SRNConfig.stc_levels``, P2–P4) also need the first-step score
  ``> cfg.first_step_threshold`` (intersection of both index sets);
* STR levels (``SRNConfig.str_levels``, P5–P7) refine the anchors with the first-step deltas,
  then decode the second-step deltas on the refined anchors; other levels decode the
  second-step deltas on the plain anchors. Decoding is :func:`srn.model.box_geometry.decode`
  (exclusive widths; ``cfg.max_delta`` caps dw, dh from above as a safety clamp only);
* the reported score is the second-step score; the top ``cfg.pre_nms_top_k`` survivors by
  score are kept;

then all levels of an image are merged, NMS'd at ``cfg.nms_iou`` with the inclusive "+1" IoU
(a box is suppressed when its IoU with a kept, higher-scoring box is ``> nms_iou``),
``cfg.keep_top_k`` are kept, in decreasing score order. Boxes are **not** clipped: the authors
clip only at the very end of the multi-scale test, after voting (``clip=True`` clips after NMS
when a single-scale result is wanted inside the image).

The authors refine the STR anchors in place inside their per-image loop, so in a batch image
b's anchors are refined b + 1 times (a bug; their test runs one image at a time). Here every
image of a batch gets exactly the single-image result.

Multi-scale test helpers (undoing a flip or a resize is ``srn.model.box_geometry``'s):
:func:`filter_by_size` (the authors' > 30 px / < 100 px rules), :func:`box_voting`
(``bbox_vote``), :func:`clip_detections`, :func:`concat`,
and :func:`vote_detections`, which chains voting, clipping and the final zero-score filter as
``tools/test.py`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou, nms

from srn.model.box_geometry import clip_boxes, decode
from srn.model.config import InferenceConfig, SRNConfig
from srn.model.outputs import SRNOutput

__all__ = [
    "Detections",
    "detect_boxes",
    "nms_plus_one",
    "box_voting",
    "vote_detections",
    "concat",
    "clip_detections",
    "filter_by_size",
]


@dataclass
class Detections:
    """Detections of one image: boxes (K, 4) x1 y1 x2 y2, scores (K,), levels (K,) int64.

    ``levels`` is the pyramid level (0 = P2 .. 5 = P7) that produced each box, or -1 where it is
    not defined (after voting).
    """

    boxes: Tensor
    scores: Tensor
    levels: Tensor

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __getitem__(self, index) -> Detections:
        """Select rows (an index tensor, a boolean mask or a slice)."""
        return Detections(self.boxes[index], self.scores[index], self.levels[index])

    def to(self, device: torch.device | str) -> Detections:
        return Detections(self.boxes.to(device), self.scores.to(device), self.levels.to(device))

    @staticmethod
    def empty(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Detections:
        return Detections(
            torch.zeros((0, 4), device=device, dtype=dtype),
            torch.zeros((0,), device=device, dtype=dtype),
            torch.zeros((0,), device=device, dtype=torch.long),
        )

    @staticmethod
    def cat(items: Sequence[Detections]) -> Detections:
        """Concatenate (e.g. the passes of a multi-scale test); no items give an empty CPU result."""
        if not items:
            return Detections.empty()
        return Detections(
            torch.cat([d.boxes for d in items]),
            torch.cat([d.scores for d in items]),
            torch.cat([d.levels for d in items]),
        )


# ----------------------------------------------------------------------------------- IoU / NMS


NMS_CHUNK = 2048


def nms_plus_one(boxes: Tensor, scores: Tensor, iou_threshold: float, max_keep: int | None = None) -> Tensor:
    """Greedy NMS with the inclusive "+1" IoU (py-faster-rcnn's kernel, as the authors use).

    torchvision's ``nms`` uses exclusive areas; shifting x2 and y2 by +1 makes its
    intersection ``min(x2) − max(x1) + 1`` and areas ``(x2 − x1 + 1)(y2 − y1 + 1)`` — exactly the
    inclusive IoU. Suppression is strict (IoU > threshold) in both. Returns kept indices in
    decreasing score order.

    With ``max_keep``, the boxes are processed in score-ordered chunks and the work stops once
    ``max_keep`` boxes are kept. That is exactly greedy NMS (a box's fate depends only on the
    boxes before it), but costs O(max_keep · n) instead of O(n²): with every anchor firing, a
    1080×720 image has ~20,000 candidates and full NMS took 0.6 s of a 4.7 s pass on 2 cores.
    """
    if boxes.shape[0] == 0:
        return torch.zeros((0,), dtype=torch.long, device=boxes.device)
    shifted = boxes.clone()
    shifted[:, 2:] += 1
    # The authors' kernel compares in float32: round the threshold to the boxes' precision so
    # that an IoU equal to it (e.g. 0.4f) is not suppressed by a float64 comparison.
    threshold = float(torch.tensor(float(iou_threshold), dtype=boxes.dtype))
    if max_keep is None or boxes.shape[0] <= NMS_CHUNK:
        keep = nms(shifted, scores, threshold)
        return keep if max_keep is None else keep[:max_keep]
    order = torch.sort(scores, descending=True, stable=True).indices
    kept = torch.zeros((0,), dtype=torch.long, device=boxes.device)
    for start in range(0, order.numel(), NMS_CHUNK):
        chunk = order[start : start + NMS_CHUNK]
        if kept.numel():  # drop what the boxes kept so far suppress
            overlap = box_iou(shifted[kept], shifted[chunk])
            chunk = chunk[(overlap > threshold).any(dim=0).logical_not()]
        if chunk.numel():
            local = nms(shifted[chunk], scores[chunk], threshold)
            kept = torch.cat([kept, chunk[local]])
        if kept.numel() >= max_keep:
            break
    return kept[:max_keep]


# ------------------------------------------------------------------------------ detect_boxes


def _level_candidates(
    level_index: int,
    level,
    anchors: Tensor,
    cfg: InferenceConfig,
    config: SRNConfig,
) -> tuple[Tensor, Tensor, Tensor] | None:
    """Survivors of one level for every image: (image index (T,), boxes (T, 4), scores (T,))."""
    cls2 = level.cls2
    if cls2.dim() != 2:
        raise ValueError(f"level {level_index}: cls2 must be (N, H·W·A), got shape {tuple(cls2.shape)}")
    n, m = cls2.shape
    if anchors.shape != (m, 4):
        raise ValueError(f"level {level_index}: {m} predictions but anchors of shape {tuple(anchors.shape)}")
    is_str = level_index in config.str_levels
    if is_str and level.box1 is None:
        raise ValueError(f"level {level_index} is an STR level but has no first-step deltas (box1)")
    if m == 0:
        return None
    dtype = torch.promote_types(level.box2.dtype, torch.float32)
    scores = torch.sigmoid(cls2.to(dtype))
    h, w = level.size
    threshold = cfg.score_threshold if h * w >= cfg.small_level_cells else 0.0
    keep = scores > threshold
    if level_index in config.stc_levels:
        if level.cls1 is None:
            raise ValueError(f"level {level_index} is an STC level but has no first-step logits (cls1)")
        keep &= torch.sigmoid(level.cls1.to(dtype)) > cfg.first_step_threshold

    k = m if cfg.pre_nms_top_k is None or cfg.pre_nms_top_k <= 0 else min(int(cfg.pre_nms_top_k), m)
    masked = scores.masked_fill(~keep, float("-inf"))
    top_scores, top_idx = masked.topk(k, dim=1)  # (N, k), decreasing
    valid = keep.gather(1, top_idx)
    img, col = valid.nonzero(as_tuple=True)
    if img.numel() == 0:
        return None
    sel = top_idx[img, col]
    sel_scores = top_scores[img, col]
    boxes = anchors.to(device=scores.device, dtype=dtype)[sel]
    if is_str:
        boxes = decode(level.box1[img, sel].to(dtype), boxes, cfg.max_delta)
    boxes = decode(level.box2[img, sel].to(dtype), boxes, cfg.max_delta)
    return img, boxes, sel_scores


def detect_boxes(
    output: SRNOutput,
    anchors: Sequence[Tensor],
    cfg: InferenceConfig | None = None,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    *,
    config: SRNConfig | None = None,
    clip: bool = False,
) -> list[Detections]:
    """Per-image detections of one forward pass (see the module docstring for the rules).

    ``anchors``: one (H·W·A, 4) tensor per level (:func:`srn.model.anchors.all_anchors`),
    shared by the images of the batch. ``image_sizes``: (height, width) per image, used only
    when ``clip`` is true. ``config`` gives the STC/STR levels (default :class:`SRNConfig`).
    """
    cfg = cfg or InferenceConfig()
    config = config or SRNConfig()
    levels = output.levels
    if len(anchors) != len(levels):
        raise ValueError(f"{len(levels)} output levels but {len(anchors)} anchor tensors")
    if not levels:
        raise ValueError("the output has no levels")
    n = levels[0].cls2.shape[0]
    if image_sizes is not None and len(image_sizes) != n:
        raise ValueError(f"{n} images in the batch but {len(image_sizes)} image sizes")
    if clip and image_sizes is None:
        raise ValueError("clip=True needs image_sizes")

    device = levels[0].cls2.device
    dtype = torch.promote_types(levels[0].box2.dtype, torch.float32)
    imgs, boxes, scores, lvls = [], [], [], []
    for li, level in enumerate(levels):
        if level.cls2.shape[0] != n:
            raise ValueError(f"level {li} has batch size {level.cls2.shape[0]}, level 0 has {n}")
        found = _level_candidates(li, level, anchors[li], cfg, config)
        if found is None:
            continue
        img, level_boxes, s = found
        imgs.append(img)
        boxes.append(level_boxes.to(dtype))
        scores.append(s.to(dtype))
        lvls.append(torch.full_like(img, li))

    if not imgs:
        return [Detections.empty(device, dtype) for _ in range(n)]
    img = torch.cat(imgs)
    boxes_all = torch.cat(boxes)
    scores_all = torch.cat(scores)
    levels_all = torch.cat(lvls)

    results = []
    for b in range(n):
        mine = (img == b).nonzero(as_tuple=True)[0]
        keep = nms_plus_one(boxes_all[mine], scores_all[mine], cfg.nms_iou, max_keep=cfg.keep_top_k)
        # nms returns decreasing scores: the authors' final "top keep_top_k by score" is a no-op.
        det = Detections(boxes_all[mine[keep]], scores_all[mine[keep]], levels_all[mine[keep]])
        if clip:
            assert image_sizes is not None  # clip without image_sizes was refused above
            h, w = image_sizes[b]
            det.boxes = clip_boxes(det.boxes, h, w)
        results.append(det)
    return results


# ------------------------------------------------------------------------------ box voting


def box_voting(
    boxes: Tensor,
    scores: Tensor,
    iou: float = 0.5,
    drop_singletons: bool = True,
    keep: int | None = 750,
) -> Detections:
    """The authors' ``bbox_vote``: K voted boxes in cluster order (levels -1), not clipped.

    Boxes are sorted by decreasing score (stable: the first of equal scores leads); repeatedly,
    the best remaining box and every remaining box whose inclusive "+1" IoU with it is
    ``>= iou`` form a cluster and leave the pool. A cluster gives the score-weighted mean of
    its coordinates and its maximum score; clusters of one box are dropped when
    ``drop_singletons``. The first ``keep`` clusters (``None``: all) are returned, so the loop
    stops as soon as that many are made. One vectorised step per cluster, O(M) each.

    Deviations, only where the authors' code fails: a cluster whose scores are all zero gets the
    plain mean (theirs divides by zero), the leading box always belongs to its own cluster
    (theirs loops forever on a degenerate leading box), and no cluster gives empty outputs
    (theirs raises NameError).
    """
    if boxes.dim() != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(f"need boxes (M, 4) and scores (M,), got {tuple(boxes.shape)} and {tuple(scores.shape)}")
    m = boxes.shape[0]
    if m == 0 or (keep is not None and keep <= 0):
        return _voted(boxes.new_zeros((0, 4)), scores.new_zeros((0,)))
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    s = scores[order].to(b.dtype)
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    alive = torch.ones(m, dtype=torch.bool, device=b.device)
    out_boxes: list[Tensor] = []
    out_scores: list[Tensor] = []
    top = 0
    while top < m:
        # Every index before ``top`` is gone, so each step works on the tail only.
        xx1 = torch.maximum(x1[top], x1[top:])
        yy1 = torch.maximum(y1[top], y1[top:])
        xx2 = torch.minimum(x2[top], x2[top:])
        yy2 = torch.minimum(y2[top], y2[top:])
        inter = (xx2 - xx1 + 1).clamp(min=0) * (yy2 - yy1 + 1).clamp(min=0)
        overlap = inter / (area[top] + area[top:] - inter)
        members = alive[top:] & (overlap >= iou)
        members[0] = True
        alive[top:] &= ~members
        count = int(members.sum())
        if count > 1 or not drop_singletons:
            weights = s[top:] * members
            total = weights.sum()
            weights = torch.where(total > 0, weights, members.to(b.dtype))
            out_boxes.append((b[top:] * weights[:, None]).sum(0) / weights.sum())
            out_scores.append(s[top])  # sorted: the leading box has the cluster's maximum score
            if keep is not None and len(out_boxes) >= keep:
                break
        rest = alive[top + 1 :]
        if not bool(rest.any()):
            break
        top = top + 1 + int(rest.to(torch.uint8).argmax())  # argmax: first maximal index
    if not out_boxes:
        return _voted(boxes.new_zeros((0, 4)), scores.new_zeros((0,)))
    return _voted(torch.stack(out_boxes).to(boxes.dtype), torch.stack(out_scores).to(scores.dtype))


def _voted(boxes: Tensor, scores: Tensor) -> Detections:
    return Detections(boxes, scores, torch.full(scores.shape, -1, dtype=torch.long, device=scores.device))


def vote_detections(
    detections: Sequence[Detections] | Detections,
    height: int,
    width: int,
    cfg: InferenceConfig | None = None,
    keep: int | None = None,
) -> Detections:
    """The end of the authors' multi-scale test: vote, clip to the image, drop zero scores.

    ``detections``: the passes (already flipped back, rescaled and size-filtered) of one image.
    ``keep`` defaults to ``cfg.keep_top_k``. Returned levels are -1.
    """
    cfg = cfg or InferenceConfig()
    det = detections if isinstance(detections, Detections) else concat(detections)
    voted = box_voting(
        det.boxes,
        det.scores,
        iou=cfg.vote_iou,
        drop_singletons=cfg.vote_drop_singletons,
        keep=cfg.keep_top_k if keep is None else keep,
    )
    voted = clip_detections(voted, height, width)
    return voted[voted.scores != 0]


# ------------------------------------------------------------------------ multi-scale helpers


def filter_by_size(
    detections: Detections,
    min_size: float | None = None,
    max_size: float | None = None,
) -> Detections:
    """Keep the boxes the authors' multi-scale test keeps (sizes inclusive: ``x2 − x1 + 1``).

    ``min_size``: keep a box if its *larger* side is ``> min_size`` (the 30 px rule for the
    shrunk passes). ``max_size``: keep a box if its *smaller* side is ``< max_size`` (the 100 px
    rule for the enlarged passes). Measured in the coordinates the boxes are in — the authors
    apply both after mapping back to the original image.
    """
    b = detections.boxes
    w = b[:, 2] - b[:, 0] + 1
    h = b[:, 3] - b[:, 1] + 1
    keep = torch.ones_like(detections.scores, dtype=torch.bool)
    if min_size is not None:
        keep &= torch.maximum(w, h) > min_size
    if max_size is not None:
        keep &= torch.minimum(w, h) < max_size
    return detections[keep]


def concat(items: Sequence[Detections]) -> Detections:
    """Concatenate detections (e.g. the passes of a multi-scale test); see :meth:`Detections.cat`."""
    return Detections.cat(list(items))


def clip_detections(detections: Detections, height: int, width: int) -> Detections:
    """The same detections with boxes clipped by :func:`clip_boxes`."""
    return Detections(clip_boxes(detections.boxes, height, width), detections.scores, detections.levels)


