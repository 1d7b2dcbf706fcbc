"""Anchor ↔ face assignment for training SRN (the authors released no training code).

:func:`match` labels every anchor of one image, all pyramid levels at once:

* IoU is the inclusive "+1" IoU of :func:`srn.model.box_geometry.box_iou_plus_one`, the one the
  authors' NMS and voting use. Anchors, refined anchors and ground truth are all x1 y1 x2 y2 in
  the detector's coordinates (inclusive pixel extents, see :mod:`srn.model.loss`).
* **thresholds**: with ``m`` the anchor's largest IoU over the *real* faces (``ignore=False``),
  ``m < neg_iou`` → negative (0), ``m >= pos_iou`` → positive (1), otherwise ignored (−1).
  A positive's ``gt_index`` is the face of largest IoU (ties: the lowest face index).
* **best-anchor rule**: every real face also makes its best-overlapping anchor(s) positive, even
  below ``pos_iou``, provided that IoU is > 0 — so tiny faces between the anchor sizes are
  matched. *Ties*: every anchor whose IoU equals the face's maximum exactly becomes positive
  (a face centred between two grid cells gets both; Detectron's "low-quality matches"). An
  anchor that is the best one of several faces goes to the one of them it overlaps most (ties:
  lowest face index), which keeps the face it rescues instead of re-assigning it by its
  overall arg-max as Detectron does.
* **ignore regions** (``ignore=True``: invalid faces, boxes under 2 px): they never create
  positives and do not count in ``m``. An anchor that is not positive for a real face is
  marked ignored when, against some ignore box, its IoU is ``>= neg_iou`` (it would not have
  been a negative for that box as a face) **or** its intersection over the *anchor's* area is
  ``>= ioa_threshold`` (0.5: the anchor lies mostly inside the region, which catches small
  anchors in a large "don't care" region that IoU misses). Positives for real faces stay
  positive.
* ``anchor_valid`` (optional (A,) bool): anchors marked False (e.g. degenerate refined anchors)
  get −1 and never take part in the best-anchor rule.
* no real face (G = 0, or all ignored) → every anchor negative, apart from ignore regions.

Work is done in chunks of anchors so memory stays O(chunk · G) for any number of anchors and
faces (an (A, G) IoU matrix is never kept): a first pass finds each anchor's best face and
each face's best IoU, a second pass (only when some face has one) applies the best-anchor rule.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from srn.model.box_geometry import box_ioa_plus_one, box_iou_plus_one

__all__ = ["MatchResult", "match", "CHUNK"]

CHUNK = 32768  # anchors per IoU block


class MatchResult(NamedTuple):
    labels: Tensor  # (A,) int64: 1 positive, 0 negative, -1 ignored
    gt_index: Tensor  # (A,) int64: matched face (index into gt) for positives, -1 elsewhere


def match(
    anchors: Tensor,
    gt: Tensor,
    ignore: Tensor | None,
    neg_iou: float,
    pos_iou: float,
    *,
    ioa_threshold: float = 0.5,
    anchor_valid: Tensor | None = None,
    chunk: int = CHUNK,
) -> MatchResult:
    """Label ``anchors`` (A, 4) against faces ``gt`` (G, 4); see the module docstring."""
    if anchors.dim() != 2 or anchors.shape[-1] != 4:
        raise ValueError(f"anchors must be (A, 4), got {tuple(anchors.shape)}")
    if gt.dim() != 2 or gt.shape[-1] != 4:
        raise ValueError(f"gt must be (G, 4), got {tuple(gt.shape)}")
    if not neg_iou <= pos_iou:
        raise ValueError(f"need neg_iou <= pos_iou, got {neg_iou} and {pos_iou}")
    device = anchors.device
    a_count, g_count = anchors.shape[0], gt.shape[0]
    if ignore is None:
        ignore = torch.zeros(g_count, dtype=torch.bool, device=device)
    ignore = ignore.to(device=device, dtype=torch.bool)
    if ignore.shape != (g_count,):
        raise ValueError(f"ignore must be ({g_count},), got {tuple(ignore.shape)}")
    valid = None if anchor_valid is None else anchor_valid.to(device=device, dtype=torch.bool)

    dtype = torch.promote_types(anchors.dtype, torch.float32)
    anchors = anchors.to(dtype)
    gt = gt.to(device=device, dtype=dtype)
    faces = gt[~ignore]
    face_ids = (~ignore).nonzero(as_tuple=True)[0]
    regions = gt[ignore]

    labels = torch.zeros(a_count, dtype=torch.long, device=device)
    gt_index = torch.full((a_count,), -1, dtype=torch.long, device=device)
    f_count = faces.shape[0]
    best_face_iou = torch.full((f_count,), -1.0, dtype=dtype, device=device)

    # Pass 1: thresholds and ignore regions, per chunk; each face's best IoU over all anchors.
    for start in range(0, a_count, chunk):
        stop = min(start + chunk, a_count)
        a = anchors[start:stop]
        ok = None if valid is None else valid[start:stop]
        lab = labels[start:stop]
        if f_count:
            iou = box_iou_plus_one(a, faces)
            if ok is not None:
                iou = torch.where(ok[:, None], iou, iou.new_tensor(-1.0))
            iou = torch.nan_to_num(iou, nan=-1.0)
            best_iou, best_face = iou.max(dim=1)  # ties: first maximal (lowest face index)
            best_face_iou = torch.maximum(best_face_iou, iou.max(dim=0).values)
            lab[best_iou >= neg_iou] = -1
            pos = best_iou >= pos_iou
            lab[pos] = 1
            gt_index[start:stop][pos] = face_ids[best_face[pos]]
        if regions.shape[0]:
            overlap = (box_iou_plus_one(a, regions) >= neg_iou) | (box_ioa_plus_one(a, regions) >= ioa_threshold)
            lab[overlap.any(dim=1) & (lab == 0)] = -1
        if ok is not None:
            lab[~ok] = -1

    # Pass 2: the best-anchor rule (every face with a best IoU > 0 gets its best anchor(s)).
    rescued = best_face_iou > 0
    if f_count and bool(rescued.any()):
        faces_r, ids_r, best_r = faces[rescued], face_ids[rescued], best_face_iou[rescued]
        for start in range(0, a_count, chunk):
            stop = min(start + chunk, a_count)
            iou = box_iou_plus_one(anchors[start:stop], faces_r)
            is_best = iou == best_r[None, :]
            if valid is not None:
                is_best &= valid[start:stop, None]
            rows = is_best.any(dim=1).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            pick = torch.where(is_best[rows], iou[rows], iou.new_tensor(-1.0)).argmax(dim=1)
            labels[start + rows] = 1
            gt_index[start + rows] = ids_r[pick]
    return MatchResult(labels, gt_index)
