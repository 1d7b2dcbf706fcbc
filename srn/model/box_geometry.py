"""Box geometry in the authors' conventions: overlaps, delta coding, and the pixel maps.

One module for what training (anchor matching, the loss's hard negatives) and detection (NMS,
voting, the multi-scale test) share, so ``srn.model`` never reaches into ``srn.engine`` for it.
Boxes are ``x1 y1 x2 y2`` tensors; two conventions meet here:

* **Overlaps** (:func:`box_iou_plus_one`, :func:`box_ioa_plus_one`) use inclusive "+1"
  extents (a box from x1 to x2 covers ``x2 − x1 + 1`` pixels), on top of torchvision's
  ``box_iou``; plain IoU is ``torchvision.ops.box_iou`` itself.
* **Delta coding** (:func:`decode`, :func:`encode`, from ``srn/utils/bbox_helper.py``): the
  anchors are generated with inclusive widths (``anchors.py``), but SRN decodes with
  *exclusive* ones and no variances::

      w = x2 − x1, h = y2 − y1, cx = (x1 + x2)/2, cy = (y1 + y2)/2
      cx' = dx·w + cx, cy' = dy·h + cy, w' = exp(dw)·w, h' = exp(dh)·h
      box' = (cx' − w'/2, cy' − h'/2, cx' + w'/2, cy' + h'/2)

  ``encode`` is the exact inverse. Both work on any leading (batch) dimensions that broadcast
  between ``deltas``/``boxes`` and ``anchors``; the last dimension is 4.
* **Pixel maps** (:func:`flip_boxes`, :func:`scale_boxes`, :func:`clip_boxes`): the authors'
  ``bbox_flip``, ``bbox_resize`` and ``clip_bbox``, on inclusive pixel coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["box_ioa_plus_one", "box_iou_plus_one", "clip_boxes", "decode", "encode", "flip_boxes", "scale_boxes"]


# ------------------------------------------------------------------------ overlaps


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


# ------------------------------------------------------------------------ delta coding


def _check_last_dim(name: str, t: Tensor) -> None:
    if t.shape[-1] != 4:
        raise ValueError(f"{name} must have a last dimension of 4, got shape {tuple(t.shape)}")


def decode(deltas: Tensor, anchors: Tensor, max_delta: float | None = None) -> Tensor:
    """Apply (dx, dy, dw, dh) ``deltas`` to x1 y1 x2 y2 ``anchors``.

    ``max_delta``, when given, caps dw and dh from above before the exponential (a safety
    clamp against overflow, as Detectron does; the authors do not clamp, so ``None`` is their
    behaviour). Shrinking deltas are never clamped.
    """
    _check_last_dim("deltas", deltas)
    _check_last_dim("anchors", anchors)
    anchors = anchors.to(deltas.dtype)
    w = anchors[..., 2] - anchors[..., 0]
    h = anchors[..., 3] - anchors[..., 1]
    cx = (anchors[..., 0] + anchors[..., 2]) * 0.5
    cy = (anchors[..., 1] + anchors[..., 3]) * 0.5
    dx, dy, dw, dh = deltas.unbind(-1)
    if max_delta is not None:
        dw = dw.clamp(max=max_delta)
        dh = dh.clamp(max=max_delta)
    pcx = dx * w + cx
    pcy = dy * h + cy
    pw = torch.exp(dw) * w
    ph = torch.exp(dh) * h
    return torch.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], dim=-1)


def encode(boxes: Tensor, anchors: Tensor) -> Tensor:
    """The deltas that :func:`decode` turns ``anchors`` into ``boxes`` with (exclusive widths).

    Boxes and anchors must have positive exclusive widths and heights (``x2 > x1``, ``y2 > y1``).
    """
    _check_last_dim("boxes", boxes)
    _check_last_dim("anchors", anchors)
    anchors = anchors.to(boxes.dtype)
    aw = anchors[..., 2] - anchors[..., 0]
    ah = anchors[..., 3] - anchors[..., 1]
    acx = (anchors[..., 0] + anchors[..., 2]) * 0.5
    acy = (anchors[..., 1] + anchors[..., 3]) * 0.5
    bw = boxes[..., 2] - boxes[..., 0]
    bh = boxes[..., 3] - boxes[..., 1]
    bcx = (boxes[..., 0] + boxes[..., 2]) * 0.5
    bcy = (boxes[..., 1] + boxes[..., 3]) * 0.5
    return torch.stack([(bcx - acx) / aw, (bcy - acy) / ah, torch.log(bw / aw), torch.log(bh / ah)], dim=-1)


# ------------------------------------------------------------------------ pixel maps


def flip_boxes(boxes: Tensor, width: int | float) -> Tensor:
    """Boxes found on a horizontally flipped image of ``width`` px, in the unflipped image.

    The authors' ``bbox_flip`` (inclusive pixels): ``x1' = W − x2 − 1``, ``x2' = W − x1 − 1``.
    """
    out = boxes.clone()
    out[..., 0] = width - boxes[..., 2] - 1
    out[..., 2] = width - boxes[..., 0] - 1
    return out


def scale_boxes(boxes: Tensor, factor: float) -> Tensor:
    """Boxes found on an image resized by ``factor``, in the original image's coordinates.

    The authors' ``bbox_resize`` (pixel-centre mapping, as ``cv2.resize`` samples):
    ``x = (x' − (factor − 1)/2) / factor``, the same for every coordinate.
    """
    return (boxes - (factor - 1) / 2.0) / factor


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Clip x to [0, width − 1] and y to [0, height − 1] (the authors' ``clip_bbox``)."""
    out = boxes.clone()
    out[..., 0::2] = boxes[..., 0::2].clamp(0, width - 1)
    out[..., 1::2] = boxes[..., 1::2].clamp(0, height - 1)
    return out
