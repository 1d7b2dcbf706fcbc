"""Pairwise overlaps of ``x1 y1 x2 y2`` boxes with the inclusive "+1" extents the authors use.

One home for the geometry both training (anchor matching, hard negatives in the loss) and
detection (NMS, voting) need, so ``srn.model`` never reaches into ``srn.engine`` for it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["box_ioa_plus_one", "box_iou_plus_one"]


def _intersection(a: Tensor, b: Tensor) -> Tensor:
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt + 1).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def _area(boxes: Tensor) -> Tensor:
    return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)


def box_iou_plus_one(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise (len(a), len(b)) IoU with inclusive "+1" widths and heights: torchvision's
    ``box_iou`` on the boxes' exclusive extents (``x2 + 1``, ``y2 + 1``)."""
    shift = a.new_tensor([0.0, 0.0, 1.0, 1.0])
    return box_iou(a + shift, b + shift)


def box_ioa_plus_one(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise (len(a), len(b)) intersection over the area of ``a``, inclusive "+1" extents."""
    return _intersection(a, b) / _area(a)[:, None]
