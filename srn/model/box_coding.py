"""Box deltas ↔ boxes, in the authors' mixed convention (``srn/utils/bbox_helper.py``).

The anchors are generated with inclusive "+1" widths (``anchors.py``), but SRN decodes with
*exclusive* ones and no variances::

    w = x2 − x1, h = y2 − y1, cx = (x1 + x2)/2, cy = (y1 + y2)/2
    cx' = dx·w + cx, cy' = dy·h + cy, w' = exp(dw)·w, h' = exp(dh)·h
    box' = (cx' − w'/2, cy' − h'/2, cx' + w'/2, cy' + h'/2)

``encode`` is the exact inverse. Both work on any leading (batch) dimensions that broadcast
between ``deltas``/``boxes`` and ``anchors``; the last dimension is 4.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["decode", "encode"]


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
