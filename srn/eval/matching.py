"""IoU helpers and ordinary one-to-one metrics: AP@0.5 (VOC all-point) and COCO AP@[.5:.95].

Boxes are ``x1 y1 x2 y2`` inclusive pixel extents (the project's convention), so IoU uses the
+1 convention (``w = x2 - x1 + 1``). That equals pycocotools' IoU on ``[x, y, w, h]`` boxes
with ``w = x2 - x1 + 1`` (its areas are ``w * h``).

Matching (pycocotools ``evaluateImg``, single category, area range "all"): per image, predictions
in descending score order (stable for ties); faces sorted with kept faces first. Each prediction
takes, among faces not yet matched, the one with the highest IoU >= the threshold (ties: the
later face, as pycocotools' ``>=`` update does); kept faces are preferred, an ignored face is used
only when no kept face qualifies. A prediction matched to an ignored face is ignored (neither TP
nor FP); ignored faces act as reusable ignore regions (like COCO crowd boxes, but with plain IoU)
and are not counted in recall. Unlike the official WIDER/DARK FACE rules, a face is matched at
most once: a second prediction on it is a false positive or moves to another qualifying face.

* ``ap50``: predictions of all images ranked together by score (stable), precision/recall after
  each prediction, AP by VOC all-point interpolation (:func:`srn.eval.curves.voc_ap`).
* ``coco``: for IoU thresholds ``linspace(.5, .95, 10)``: per-image cap ``max_dets`` on the
  top-scoring predictions (pycocotools uses 100; default here ``None``: no cap, faces come in
  crowds), ranking by ``argsort(-score, kind="mergesort")``, precision made monotone from the
  right, sampled at 101 recall points ``linspace(0, 1, 101)`` with ``searchsorted(recall, r,
  side="left")`` (0 beyond the reached recall); AP per threshold = mean of the 101 samples,
  AP@[.5:.95] = mean over thresholds. With no faces AP is NaN (pycocotools: -1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from srn.eval.curves import FP, IGNORED, TP, EvalResult, ImageResult, PRCurve, voc_ap

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
COCO_RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)


def box_area(boxes: np.ndarray, inclusive: bool = True) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    one = 1.0 if inclusive else 0.0
    return (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)


def iou_matrix(a: np.ndarray, b: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """IoU (len(a), len(b)) of ``x1 y1 x2 y2`` boxes; ``inclusive``: +1 pixel convention."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    one = 1.0 if inclusive else 0.0
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + one
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + one
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = box_area(a, inclusive)[:, None] + box_area(b, inclusive)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


DENSE_CELLS = 1 << 22
"""The largest prediction × face IoU matrix held at once (4M cells, 32 MB of float64). Larger
pairs (a hostile or broken file: 30k × 30k boxes in one image would need a 7 GB matrix) are
matched in blocks of prediction rows, with the same results."""


def iou_blocks(a: np.ndarray, b: np.ndarray, inclusive: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, iou_matrix(a[start:start + n], b))`` for consecutive row blocks of at most
    ``DENSE_CELLS`` cells (at least one row each)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    step = max(1, DENSE_CELLS // max(1, len(np.asarray(b).reshape(-1, 4))))
    for start in range(0, len(a), step):
        yield start, iou_matrix(a[start:start + step], b, inclusive)


def _dense_or_none(pred: np.ndarray, gt: np.ndarray) -> np.ndarray | None:
    """The full IoU matrix when it is small enough to hold (``DENSE_CELLS``), else ``None``."""
    k, g = len(np.asarray(pred).reshape(-1, 4)), len(np.asarray(gt).reshape(-1, 4))
    return iou_matrix(pred, gt) if k * g <= DENSE_CELLS else None


def max_iou(pred: np.ndarray, gt: np.ndarray, ious: np.ndarray | None = None) -> np.ndarray:
    """Each prediction's largest IoU with any face (0 without faces), from ``ious`` or in blocks."""
    k, g = len(np.asarray(pred).reshape(-1, 4)), len(np.asarray(gt).reshape(-1, 4))
    if not k or not g:
        return np.zeros(k)
    if ious is not None:
        return ious.max(axis=1)
    out = np.empty(k)
    for start, block in iou_blocks(pred, gt):
        out[start:start + len(block)] = block.max(axis=1)
    return out


def match_image(
    gt: np.ndarray, pred: np.ndarray, scores: np.ndarray, iou_threshold: float,
    keep: np.ndarray | None = None, ious: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of one image (see the module docstring).

    Returns ``pred_gt`` (K,) matched face or -1, ``pred_status`` (K,) TP/FP/IGNORED,
    ``gt_pred`` (G,) the prediction that matched a kept face or -1.
    """
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    keep = np.ones(len(gt), dtype=bool) if keep is None else np.asarray(keep, dtype=bool).reshape(-1)
    k, g = len(pred), len(gt)
    pred_gt = np.full(k, -1, dtype=np.int64)
    status = np.full(k, FP, dtype=np.int8)
    gt_pred = np.full(g, -1, dtype=np.int64)
    if not k or not g:
        return pred_gt, status, gt_pred
    if ious is None:
        ious = _dense_or_none(pred, gt)
    thr = min(iou_threshold, 1 - 1e-10)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    if ious is not None:
        rows: Iterator[np.ndarray] = (ious[d] for d in order)
    else:  # in score order, a block of rows at a time
        rows = (row for _, block in iou_blocks(pred[order], gt) for row in block)
    free = keep.copy()  # kept faces not yet matched
    for d, row in zip(order, rows):
        cand = free & (row >= thr)
        if not cand.any():
            cand = ~keep & (row >= thr)
            if not cand.any():
                continue
        best = row[cand].max()
        m = int(np.nonzero(cand & (row == best))[0][-1])  # the later face on ties (pycocotools' >=)
        pred_gt[d] = m
        if keep[m]:
            status[d] = TP
            free[m] = False
            gt_pred[m] = d
        else:
            status[d] = IGNORED
    return pred_gt, status, gt_pred


def _prepare(gt, preds, keep, names):
    names = list(names) if names is not None else [str(i) for i in range(len(gt))]
    if not (len(names) == len(gt) == len(preds)):
        raise ValueError("gt, preds and names must have one entry per image")
    keeps = []
    for i, g in enumerate(gt):
        n = len(np.asarray(g).reshape(-1, 4))
        kk = None if keep is None else keep[i]
        keeps.append(np.ones(n, dtype=bool) if kk is None else np.asarray(kk, dtype=bool).reshape(-1))
    return names, keeps


def _image_results(names, preds, keeps, matches, pred_ious) -> list[ImageResult]:
    out = []
    for name, (_boxes, scores), keep, (pred_gt, status, gt_pred), pred_iou in zip(
            names, preds, keeps, matches, pred_ious):
        scores = np.asarray(scores, dtype=np.float64).ravel()
        hit = np.full(len(keep), np.nan)
        ok = gt_pred >= 0
        hit[ok] = scores[gt_pred[ok]]
        out.append(ImageResult(name, scores, pred_gt, pred_iou, status, ~keep, hit, skipped=False))
    return out


def evaluate_ap50(
    gt: Sequence[np.ndarray],
    preds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    keep: Sequence[np.ndarray | None] | None = None,
    names: Sequence[str] | None = None,
    iou_threshold: float = 0.5,
) -> EvalResult:
    """AP at one IoU threshold with one-to-one matching, VOC all-point interpolation."""
    names, keeps = _prepare(gt, preds, keep, names)
    matches, ious_list, all_scores, all_status = [], [], [], []
    for g, (b, s), kp in zip(gt, preds, keeps):
        ious = _dense_or_none(b, g)
        ious_list.append(ious)
        m = match_image(g, b, s, iou_threshold, kp, ious)
        matches.append(m)
        all_scores.append(np.asarray(s, dtype=np.float64).ravel())
        all_status.append(m[1])
    num_faces = int(sum(k.sum() for k in keeps))
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    status = np.concatenate(all_status) if all_status else np.zeros(0, dtype=np.int8)
    order = np.argsort(-scores, kind="mergesort")
    scores, status = scores[order], status[order]
    counted = status != IGNORED
    scores, status = scores[counted], status[counted]
    tp = np.cumsum(status == TP)
    fp = np.cumsum(status == FP)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / num_faces if num_faces else np.full(len(tp), np.nan)
    ap = voc_ap(recall, precision) if num_faces else float("nan")
    curve = PRCurve(precision, recall, scores, ap, f"AP@{iou_threshold:g}")
    pred_ious = [max_iou(b, g, io) for g, (b, _), io in zip(gt, preds, ious_list)]
    images = _image_results(names, preds, keeps, matches, pred_ious)
    return EvalResult("ap50", ap, curve, images, num_faces, int(len(order)), metrics={"AP50": ap})


def evaluate_coco(
    gt: Sequence[np.ndarray],
    preds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    keep: Sequence[np.ndarray | None] | None = None,
    names: Sequence[str] | None = None,
    max_dets: int | None = None,
    iou_thresholds: np.ndarray = COCO_IOU_THRESHOLDS,
) -> EvalResult:
    """COCO-style AP@[.5:.95] (101-point interpolation, as pycocotools ``accumulate``)."""
    names, keeps = _prepare(gt, preds, keep, names)
    num_faces = int(sum(k.sum() for k in keeps))
    capped, kept_idx = [], []
    for b, s in preds:
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        s = np.asarray(s, dtype=np.float64).ravel()
        idx = np.arange(len(s))
        if max_dets is not None:  # the top-scoring max_dets, kept in their original order
            idx = np.sort(np.argsort(-s, kind="mergesort")[:max_dets])
        kept_idx.append(idx)
        capped.append((b[idx], s[idx]))
    ious_list = [_dense_or_none(b, g) for g, (b, _) in zip(gt, capped)]
    curves: dict[str, PRCurve] = {}
    aps = []
    matches_at_50 = None
    for t in iou_thresholds:
        per_image = [match_image(g, b, s, float(t), kp, io) for g, (b, s), kp, io in zip(gt, capped, keeps, ious_list)]
        if matches_at_50 is None:
            matches_at_50 = per_image
        scores = np.concatenate([s for _, s in capped]) if capped else np.zeros(0)
        status = np.concatenate([m[1] for m in per_image]) if per_image else np.zeros(0, dtype=np.int8)
        order = np.argsort(-scores, kind="mergesort")
        scores, status = scores[order], status[order]
        counted = status != IGNORED
        scores, status = scores[counted], status[counted]
        tp = np.cumsum(status == TP).astype(np.float64)
        fp = np.cumsum(status == FP).astype(np.float64)
        if num_faces == 0:
            ap_t = float("nan")
            rc = np.full(len(tp), np.nan)
            pr = np.full(len(tp), np.nan)
        else:
            rc = tp / num_faces
            pr = tp / (fp + tp + np.spacing(1))
            pr_mono = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
            q = np.zeros(len(COCO_RECALL_POINTS))
            inds = np.searchsorted(rc, COCO_RECALL_POINTS, side="left")
            valid = inds < len(pr_mono)
            q[valid] = pr_mono[inds[valid]]
            ap_t = float(q.mean())
        aps.append(ap_t)
        curves[f"{t:.2f}"] = PRCurve(pr, rc, scores, ap_t, f"IoU {t:.2f}")
    aps_arr = np.array(aps)
    ap = float(np.mean(aps_arr)) if not np.isnan(aps_arr).all() else float("nan")
    metrics = {"AP": ap}
    for key, name in (("0.50", "AP50"), ("0.75", "AP75")):
        if key in curves:
            metrics[name] = curves[key].ap
    curve = next(iter(curves.values())) if curves else PRCurve(np.zeros(0), np.zeros(0), np.zeros(0), ap)
    curve = PRCurve(curve.precision, curve.recall, curve.thresholds, ap, "AP@[.5:.95] (PR at IoU .5)")
    full_matches, full_ious = [], []
    for g, (_b, s), (cb, _), idx, (pred_gt, status, gt_pred), io in zip(
            gt, preds, capped, kept_idx, matches_at_50 or [], ious_list):
        n = len(np.asarray(s).ravel())
        fg = np.full(n, -1, dtype=np.int64)
        fs = np.full(n, IGNORED, dtype=np.int8)  # beyond max_dets: not evaluated
        fi = np.zeros(n)
        fg[idx], fs[idx], fi[idx] = pred_gt, status, max_iou(cb, g, io)
        gp = np.where(gt_pred >= 0, idx[np.clip(gt_pred, 0, None)] if len(idx) else -1, -1)
        full_matches.append((fg, fs, gp))
        full_ious.append(fi)
    images = _image_results(names, preds, keeps, full_matches, full_ious)
    return EvalResult("coco", ap, curve, images, num_faces, int(sum(len(s) for _, s in capped)), metrics, curves)
