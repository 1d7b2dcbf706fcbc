"""The WIDER FACE / DARK FACE evaluation protocol, reproduced from the official MATLAB/Octave tools.

Sources read (facts only; no code copied):

* WIDER FACE ``eval_tools``: ``wider_eval.m``, ``read_pred.m``, ``norm_score.m``, ``evaluation.m``
  (``image_evaluation``, ``image_pr_info``, ``dataset_pr_info``), ``boxoverlap.m``,
  ``plot/VOCap.m`` and ``plot/wider_plot.m`` (Shuo Yang, Dec 2015).
* DARK FACE / UG2+ track 2: github.com/Ir1d/DARKFACE_eval_tools (Dejia Xu, Feb 2019; run under
  Octave in the ``scaffrey/eval_tools`` docker image): ``df_eval.m``, ``read_pred.m``,
  ``read_gt.m``, ``norm_score.m``, ``evaluation.m``, ``utils/VOCap.m``, ``utils/df_plot.m``.

What they do, verified line by line:

1. **Reading.** Predictions are sorted by score, ``sort(..., 'descend')`` (stable: tied scores keep
   file order), when read. A missing or empty prediction file gives an empty list. WIDER reads a
   prediction file for every image of ``wider_face_val.mat`` only; DARK FACE for every label file
   of its file list only (predictions for other images are never read).
2. **Score normalisation** (``norm_score.m``), once over all predictions read::

       max_score = realmin('single'); min_score = realmax('single')
       max_score = max(max_score, max(scores)); min_score = min(min_score, min(scores))
       score = (score - min_score) / (max_score - min_score)

   Two quirks follow. The running extremes start as *single* values, and MATLAB/Octave mixed
   single/double arithmetic yields single, so the normalised scores are computed in float32
   (then stored back into the double matrix); and the maximum is clamped from below at
   ``realmin('single')`` ~ 1.18e-38, which matters when every score is negative. WIDER divides
   even when all scores are equal (0/0: every score becomes NaN, nothing ever passes a threshold);
   the DARK FACE version instead uses ``score - (min_score - 1)`` when ``max == min`` (all become 1).
3. **Boxes.** WIDER's ``image_evaluation`` turns columns 3/4 of predictions and faces into
   ``x + w`` / ``y + h``: one pixel more than the inclusive right edge. The current DARK FACE
   tool (Ir1d/DARKFACE_eval_tools after its 12 May 2019 "BREAKING CHANGE", which also brought the
   score rule above) compares its ``x1 y1 x2 y2`` boxes as they are: the default here
   (``box_rule="current"``). Its two April 2019 versions applied WIDER's line to those corners,
   comparing ``[x1, y1, x1 + x2, y1 + y2]``; ``box_rule="april-2019"`` reproduces that for
   numbers published with them.
4. **IoU** (``boxoverlap.m``): inclusive +1 convention, ``w = min(x2) - max(x1) + 1``,
   ``inter = w * h``, ``area = (x2 - x1 + 1) * (y2 - y1 + 1)``,
   ``iou = inter / (area_a + area_b - inter)``, zero where ``w <= 0`` or ``h <= 0``. The official
   WIDER files store the faces as **int32**, and MATLAB/Octave arithmetic with an integer
   operand stays integer (rounded half away from zero at every step): the prediction's corners
   are rounded where they meet the face's in ``max``/``min``, and ``inter ./ union`` is an
   integer division, so the overlap is 0 or 1 and ``max`` takes the *first* face with IoU >= 0.5.
   That is reproduced whenever the ground truth is integer-typed (``MatlabInteger``,
   ``boxoverlap_integer``); float ground truth (the DARK FACE text files) uses the float IoU.
5. **Matching** (``image_evaluation``): for each prediction in sorted order,
   ``[max_overlap, idx] = max(boxoverlap(gt, pred))`` (first index on ties, NaN ignored);
   if ``max_overlap >= 0.5``: WIDER: if face ``idx`` is not in the setting's keep list
   (``ignore(idx) == 0``; the variable is 1 for *kept* faces) then ``recall_list(idx) = -1`` and
   ``proposal_list(h) = -1`` (the prediction is ignored); else if ``recall_list(idx) == 0`` it
   becomes 1. DARK FACE has no keep list: ``recall_list(idx) = 1``. ``pred_recall(h)`` is the
   number of faces with ``recall_list == 1`` after prediction ``h``. Not one-to-one: a
   prediction whose best face is already recalled adds nothing and stays a proposal; a
   prediction never moves on to its second-best face.
6. **Thresholds** (``image_pr_info``): for ``t = 1..1000``, ``thresh = 1 - t/1000`` (0.999 down
   to 0), ``r_index = find(score >= thresh, 1, 'last')``; the image contributes
   ``sum(proposal_list(1:r_index) == 1)`` proposals and ``pred_recall(r_index)`` recalled faces
   (0 and 0 when no score passes).
7. **Skipping / face count** (``evaluation``): ``count_face`` grows by the size of the keep list
   (WIDER) or the number of label boxes (DARK FACE: ``size(keep_index, 1)`` in the later version;
   an earlier version used ``length`` of the K x 4 matrix, i.e. ``max(K, 4)``, which was fixed)
   *before* ``if isempty(gt_bbx) || isempty(pred_info), continue``: images without faces or
   without predictions contribute nothing else, so predictions on face-free images never count.
   ``strict=True`` counts them as false positives instead (our addition, not an official mode).
8. **Curve and AP** (``dataset_pr_info`` + ``VOCap``): precision = sum recalled / sum proposals
   (0/0 = NaN), recall = sum recalled / count_face; AP = ``VOCap(recall, precision)``
   (see :func:`srn.eval.curves.voc_ap`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from srn.eval.curves import DUP, FP, IGNORED, TP, EvalResult, ImageResult, PRCurve, voc_ap
from srn.eval.matching import DENSE_CELLS

THRESH_NUM = 1000
IOU_THRESHOLD = 0.5
REALMIN_SINGLE = float(np.finfo(np.float32).tiny)  # MATLAB realmin('single')
REALMAX_SINGLE = float(np.finfo(np.float32).max)  # MATLAB realmax('single')


def official_thresholds(thresh_num: int = THRESH_NUM) -> np.ndarray:
    """``1 - t/thresh_num`` for ``t = 1..thresh_num`` (computed with the same double operations)."""
    return 1.0 - np.arange(1, thresh_num + 1, dtype=np.float64) / thresh_num


def normalize_scores(score_lists: Sequence[np.ndarray], rule: str = "wider") -> list[np.ndarray]:
    """Min-max normalise all scores together, as ``norm_score.m`` does (float32 arithmetic).

    ``rule="wider"``: equal scores give NaN (0/0), as the WIDER tool does.
    ``rule="darkface"``: equal scores give ``score - (min - 1)`` (= 1).
    """
    if rule not in ("wider", "darkface"):
        raise ValueError(f"unknown normalisation rule {rule!r}")
    arrays = [np.asarray(s, dtype=np.float64).ravel() for s in score_lists]
    nonempty = [a for a in arrays if a.size]
    if not nonempty:
        return [a.copy() for a in arrays]
    for a in nonempty:
        if np.isnan(a).any():
            raise ValueError("prediction scores contain NaN")
    f32 = np.float32
    max_score = max(f32(REALMIN_SINGLE), f32(max(float(a.max()) for a in nonempty)))
    min_score = min(f32(REALMAX_SINGLE), f32(min(float(a.min()) for a in nonempty)))
    out = []
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for a in arrays:
            s = a.astype(np.float32)
            if rule == "darkface" and max_score == min_score:
                n = s - (min_score - f32(1))
            else:
                n = (s - min_score) / (max_score - min_score)
            out.append(np.asarray(n, dtype=np.float32).astype(np.float64))
    return out


def wider_corners(xywh: np.ndarray) -> np.ndarray:
    """WIDER ``x y w h`` -> the official corners ``x, y, x + w, y + h`` (not ``x + w - 1``)."""
    b = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)


DARKFACE_BOX_RULES = ("current", "april-2019")


def darkface_corners(xyxy: np.ndarray, box_rule: str = "current") -> np.ndarray:
    """DARK FACE ``x1 y1 x2 y2`` -> what the tool compares: the boxes unchanged (the current
    tool), or ``x1, y1, x1 + x2, y1 + y2`` (``"april-2019"``; see the module docstring)."""
    if box_rule not in DARKFACE_BOX_RULES:
        raise ValueError(f"box_rule must be one of {', '.join(DARKFACE_BOX_RULES)}, got {box_rule!r}")
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if box_rule == "current":
        return b.copy()
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def boxoverlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) with ``boxoverlap.m``'s inclusive +1 convention and operation order."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    inter = w * h
    aarea = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    barea = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        o = inter / (aarea + barea - inter)
    o[(w <= 0) | (h <= 0)] = 0.0
    return o


class MatlabInteger:
    """MATLAB/Octave arithmetic of one integer class (e.g. int32): an operation with an integer
    operand gives that class, so its result is rounded half away from zero and saturated to the
    class's range at once; integer division by zero gives the range's end (0 for 0/0), NaN becomes 0.
    Values are carried as float64 (exact for every 32-bit integer)."""

    def __init__(self, name: str) -> None:
        info = np.iinfo(np.dtype(name))
        self.name, self.lo, self.hi = name, float(info.min), float(info.max)

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            r = np.sign(x) * np.floor(np.abs(x) + 0.5)
        return np.clip(np.nan_to_num(r, nan=0.0, posinf=self.hi, neginf=self.lo), self.lo, self.hi)

    def divide(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            q = self(a / np.where(b == 0, 1.0, b))
        return np.where(b == 0, np.where(a > 0, self.hi, np.where(a < 0, self.lo, 0.0)), q)


def boxoverlap_integer(gt: np.ndarray, pred: np.ndarray, cls: MatlabInteger) -> np.ndarray:
    """``boxoverlap.m`` (len(pred), len(gt)) as MATLAB runs it on integer-typed faces ``gt`` (the
    official WIDER files: int32) and double predictions: the corners meet in ``max``/``min`` and
    become integers, ``aarea + barea`` is rounded, and ``inter ./ union`` is an integer division,
    so the overlap is 0 or 1 (1 from IoU 0.5 up) and ``max`` then takes the *first* face that
    reaches 0.5, not the best one."""
    a = np.asarray(gt, dtype=np.float64).reshape(-1, 4)[None, :, :]
    b = np.asarray(pred, dtype=np.float64).reshape(-1, 4)[:, None, :]
    x1, y1 = cls(np.fmax(a[..., 0], b[..., 0])), cls(np.fmax(a[..., 1], b[..., 1]))  # max ignores NaN
    x2, y2 = cls(np.fmin(a[..., 2], b[..., 2])), cls(np.fmin(a[..., 3], b[..., 3]))
    w, h = cls(cls(x2 - x1) + 1), cls(cls(y2 - y1) + 1)
    inter = cls(w * h)
    aarea = cls(cls(cls(a[..., 2] - a[..., 0]) + 1) * cls(cls(a[..., 3] - a[..., 1]) + 1))
    barea = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)  # double: pred is double
    o = cls.divide(inter, cls(cls(aarea + barea) - inter))
    o[(w <= 0) | (h <= 0)] = 0.0
    return o


def wider_corners_integer(xywh: np.ndarray, cls: MatlabInteger) -> np.ndarray:
    """``gt_bbx(:,3) = gt_bbx(:,1) + gt_bbx(:,3)`` (and column 4) in the faces' integer class."""
    b = cls(np.asarray(xywh, dtype=np.float64).reshape(-1, 4))
    return np.stack([b[:, 0], b[:, 1], cls(b[:, 0] + b[:, 2]), cls(b[:, 1] + b[:, 3])], axis=1)


@dataclass
class ImageEvaluation:
    """``image_evaluation`` for one image, predictions in sorted (descending score) order."""

    best_gt: np.ndarray  # (K,) index of the best face when IoU >= threshold, else -1
    best_iou: np.ndarray  # (K,) max IoU (0 when there are no faces)
    proposal: np.ndarray  # (K,) bool: counts as a proposal (proposal_list == 1)
    pred_recall: np.ndarray  # (K,) int: faces recalled after this prediction
    status: np.ndarray  # (K,) TP / DUP / FP / IGNORED


def image_evaluation(
    gt: np.ndarray, pred: np.ndarray, keep: np.ndarray | None = None, iou_threshold: float = IOU_THRESHOLD,
    integer: MatlabInteger | None = None,
) -> ImageEvaluation:
    """Official matching of sorted predictions ``pred`` (K, 4) to faces ``gt`` (G, 4), both already
    in official corner form. ``keep`` (G,) bool: faces of the setting's keep list (None: all).
    ``integer``: the faces are of that MATLAB integer class (``boxoverlap_integer``)."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    k = len(pred)
    keep = np.ones(len(gt), dtype=bool) if keep is None else np.asarray(keep, dtype=bool).reshape(-1)
    if len(keep) != len(gt):
        raise ValueError(f"keep mask has {len(keep)} entries for {len(gt)} faces")
    best_gt = np.full(k, -1, dtype=np.int64)
    best_iou = np.zeros(k)
    status = np.full(k, FP, dtype=np.int8)
    if len(gt) and k:
        idx, iou = np.empty(k, dtype=np.int64), np.empty(k)
        step = max(1, DENSE_CELLS // len(gt))  # rows at a time: 30k × 30k boxes must not need 7 GB
        for start in range(0, k, step):
            o = (boxoverlap(pred[start:start + step], gt) if integer is None
                 else boxoverlap_integer(gt, pred[start:start + step], integer))
            o_nan = np.where(np.isnan(o), -np.inf, o)  # MATLAB max ignores NaN
            block = np.argmax(o_nan, axis=1)  # first index of the maximum, like MATLAB
            idx[start:start + step] = block
            iou[start:start + step] = o_nan[np.arange(len(block)), block]
        best_iou = np.where(np.isfinite(iou), iou, 0.0)
        hit = iou >= iou_threshold
        best_gt[hit] = idx[hit]
        # Faces outside the keep list can only ever be marked -1, so ignoring is stateless; a kept
        # face is recalled by the first prediction (in sorted order) whose best face it is.
        ign = hit & ~keep[idx]
        status[ign] = IGNORED
        kept_hits = np.nonzero(hit & keep[idx])[0]
        _, first = np.unique(idx[kept_hits], return_index=True)
        status[kept_hits] = DUP
        status[kept_hits[first]] = TP
    proposal = status != IGNORED
    pred_recall = np.cumsum(status == TP).astype(np.int64)
    return ImageEvaluation(best_gt, best_iou, proposal, pred_recall, status)


def image_pr_info(
    sorted_scores: np.ndarray, proposal: np.ndarray, pred_recall: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """(T, 2) ``[proposals, recalled]`` per threshold (``image_pr_info``: ``find(score >= t, 1, 'last')``)."""
    s = np.asarray(sorted_scores, dtype=np.float64)
    out = np.zeros((len(thresholds), 2), dtype=np.int64)
    if not s.size:
        return out
    passed = s[None, :] >= thresholds[:, None] if s.size * len(thresholds) <= 4_000_000 else None
    if passed is not None:
        any_pass = passed.any(axis=1)
        last = s.size - 1 - np.argmax(passed[:, ::-1], axis=1)
    else:  # sorted scores are non-increasing: the last passing index is the count of passing scores - 1
        count = np.searchsorted(-s, -thresholds, side="right")
        any_pass = count > 0
        last = count - 1
    cum_prop = np.cumsum(proposal.astype(np.int64))
    out[any_pass, 0] = cum_prop[last[any_pass]]
    out[any_pass, 1] = pred_recall[last[any_pass]]
    return out


@dataclass
class OfficialImage:
    """One image for :func:`evaluate_official`: boxes already in official corner form, raw scores."""

    name: str
    gt: np.ndarray
    pred: np.ndarray
    scores: np.ndarray
    keep: np.ndarray | None = None  # (G,) bool; None: every face counts


def evaluate_official(
    images: Sequence[OfficialImage],
    *,
    rule: str = "wider",
    strict: bool = False,
    normalized_scores: Sequence[np.ndarray] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    thresh_num: int = THRESH_NUM,
    protocol: str = "official",
    label: str = "",
    integer: MatlabInteger | None = None,
) -> EvalResult:
    """Run the official protocol on ``images``.

    Scores are normalised over all images with ``rule`` unless ``normalized_scores`` (one array per
    image, same order) are given (WIDER normalises once for the three settings). ``integer``: the
    faces are integer-typed, compared as MATLAB does (``boxoverlap_integer``).
    """
    thresholds = official_thresholds(thresh_num)
    if normalized_scores is None:
        normalized_scores = normalize_scores([im.scores for im in images], rule)
    totals = np.zeros((thresh_num, 2), dtype=np.int64)
    count_face = 0
    num_predictions = 0
    results: list[ImageResult] = []
    for im, norm in zip(images, normalized_scores, strict=True):
        gt = np.asarray(im.gt, dtype=np.float64).reshape(-1, 4)
        pred = np.asarray(im.pred, dtype=np.float64).reshape(-1, 4)
        norm = np.asarray(norm, dtype=np.float64).ravel()
        if len(norm) != len(pred):
            raise ValueError(f"{im.name}: {len(pred)} boxes but {len(norm)} scores")
        keep = np.ones(len(gt), dtype=bool) if im.keep is None else np.asarray(im.keep, dtype=bool).reshape(-1)
        count_face += int(keep.sum())
        num_predictions += len(pred)
        # Stable descending sort of the raw scores (read_pred.m sorts before normalising).
        order = np.argsort(-np.asarray(im.scores, dtype=np.float64).ravel(), kind="stable")
        ev = image_evaluation(gt, pred[order], keep, iou_threshold, integer)
        skipped = len(gt) == 0 or len(pred) == 0
        if not skipped or (strict and len(pred)):
            totals += image_pr_info(norm[order], ev.proposal, ev.pred_recall, thresholds)
        results.append(_image_result(im.name, norm, order, ev, keep))
        results[-1].skipped = skipped and not (strict and len(pred))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = totals[:, 1] / totals[:, 0]
        recall = totals[:, 1] / count_face if count_face else np.full(thresh_num, np.nan)
    ap = voc_ap(recall, precision)
    curve = PRCurve(precision, recall, thresholds, ap, label)
    return EvalResult(protocol, ap, curve, results, count_face, num_predictions)


def _image_result(name: str, norm: np.ndarray, order: np.ndarray, ev: ImageEvaluation, keep: np.ndarray) -> ImageResult:
    k = len(order)
    pred_gt = np.full(k, -1, dtype=np.int64)
    pred_iou = np.zeros(k)
    status = np.full(k, FP, dtype=np.int8)
    pred_gt[order] = ev.best_gt
    pred_iou[order] = ev.best_iou
    status[order] = ev.status
    hit_score = np.full(len(keep), np.nan)
    tp = np.nonzero(status == TP)[0]
    hit_score[pred_gt[tp]] = norm[tp]
    return ImageResult(name, norm.copy(), pred_gt, pred_iou, status, ~keep, hit_score)


# ----------------------------------------------------------------------------- dataset front ends


def evaluate_darkface(
    labels: Mapping[str, np.ndarray],
    submissions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    strict: bool = False,
    box_rule: str = "current",
) -> EvalResult:
    """The DARK FACE (UG2+) protocol on ``labels`` {stem: (G,4) x1 y1 x2 y2} and ``submissions``
    {stem: ((K,4) x1 y1 x2 y2, (K,) scores)}. Only images with a label are evaluated (as the official
    file list); submissions for other images are reported in ``notes`` and not read."""
    images = []
    for name in sorted(labels):
        gt = np.asarray(labels[name], dtype=np.float64).reshape(-1, 4)
        boxes, scores = submissions.get(name, (np.zeros((0, 4)), np.zeros(0)))
        images.append(
            OfficialImage(name, darkface_corners(gt, box_rule), darkface_corners(boxes, box_rule),
                          np.asarray(scores).ravel())
        )
    result = evaluate_official(images, rule="darkface", strict=strict, protocol="darkface", label="DARK FACE")
    extra = sorted(set(submissions) - set(labels))
    if extra:
        result.notes.append(f"{len(extra)} prediction file(s) without a label were not evaluated (e.g. {extra[0]})")
    if box_rule == "april-2019":
        result.notes.append("boxes compared as the April 2019 tool did: [x1, y1, x1 + x2, y1 + y2]")
    if strict:
        result.notes.append("strict: predictions on face-free images count as false positives")
    return result


def evaluate_wider(
    names: Sequence[str],
    gt_xywh: Sequence[np.ndarray],
    keep_lists: Mapping[str, Sequence[np.ndarray]],
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    strict: bool = False,
    integer_class: str | None = None,
) -> dict[str, EvalResult]:
    """The WIDER FACE protocol for each setting of ``keep_lists`` ({"easy": [0-based indices per image], ...}).

    ``names``/``gt_xywh``: every image of ``wider_face_val.mat`` (flattened over events, e.g.
    ``"0--Parade/0_Parade_marchingband_1_465"``) with its ``x y w h`` faces; ``predictions``:
    {name: ((K,4) x y w h, (K,) scores)} with the raw ``x y w h`` of the prediction files.
    Scores are normalised once over the predictions of the listed images, as ``wider_eval.m`` does.
    ``integer_class`` ("int32" for the official files, ``WiderMatGT.integer_class``): the type the
    faces are stored as; MATLAB's integer arithmetic then decides the matches (the module
    docstring, point 4). ``None``: float arithmetic (what Python ports of the tool compute).
    """
    integer = MatlabInteger(integer_class) if integer_class else None
    preds = [predictions.get(n, (np.zeros((0, 4)), np.zeros(0))) for n in names]
    norm = normalize_scores([np.asarray(s).ravel() for _, s in preds], "wider")
    out: dict[str, EvalResult] = {}
    for setting, keeps in keep_lists.items():
        if len(keeps) != len(names):
            raise ValueError(f"{setting}: keep lists for {len(keeps)} images, ground truth has {len(names)}")
        images = []
        for n, g, (b, s), kidx in zip(names, gt_xywh, preds, keeps):
            g = np.asarray(g, dtype=np.float64).reshape(-1, 4)
            mask = np.zeros(len(g), dtype=bool)
            kidx = np.asarray(kidx, dtype=np.int64).ravel()
            if kidx.size and (kidx.min() < 0 or kidx.max() >= len(g)):
                raise ValueError(f"{setting}: {n}: keep index out of range for {len(g)} faces")
            mask[kidx] = True
            corners = wider_corners(g) if integer is None else wider_corners_integer(g, integer)
            images.append(OfficialImage(n, corners, wider_corners(b), np.asarray(s).ravel(), mask))
        out[setting] = evaluate_official(
            images, rule="wider", strict=strict, normalized_scores=norm, protocol="wider", label=f"WIDER {setting}",
            integer=integer)
        if integer is None:
            out[setting].notes.append("float arithmetic (--semantics float), not the official tool's integer "
                                      "arithmetic on int32 faces")
    return out
