"""Precision/recall curves, VOC all-point AP, and the per-image result records every metric returns.

``voc_ap`` reproduces ``VOCap.m`` as shipped with the WIDER FACE eval tools and, unchanged, with the
DARK FACE (UG2+ track 2) tools (``utils/VOCap.m`` of Ir1d/DARKFACE_eval_tools)::

    mrec = [0; rec; 1];  mpre = [0; prec; 0]
    for i = numel(mpre)-1 : -1 : 1,  mpre(i) = max(mpre(i), mpre(i+1))
    i = find(mrec(2:end) ~= mrec(1:end-1)) + 1
    ap = sum((mrec(i) - mrec(i-1)) .* mpre(i))

Precision is 0/0 = NaN at thresholds where no prediction counts yet. MATLAB's and Octave's ``max``
ignore NaN (``max(NaN, x) = x``), and because the running maximum starts from the appended 0,
every NaN is replaced by the best precision to its right; ``np.fmax`` has exactly that behaviour.
Recall values are compared with ``~=`` like the original (NaN ~= NaN is true, as in numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Per-prediction status codes (ImageResult.pred_status).
FP = 0  #: no face overlaps enough (or, in one-to-one matching, every such face is taken)
TP = 1  #: recalled a face that was not recalled before
DUP = 2  #: official protocols only: its best face was already recalled; counts as a proposal, adds no recall
IGNORED = 3  #: its best face is not in the keep list: counts neither as a proposal nor as a hit

STATUS_NAMES = {FP: "fp", TP: "tp", DUP: "duplicate", IGNORED: "ignored"}


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP (``VOCap.m``), with NaN precisions handled as MATLAB's ``max``."""
    rec = np.asarray(recall, dtype=np.float64).ravel()
    prec = np.asarray(precision, dtype=np.float64).ravel()
    if rec.shape != prec.shape:
        raise ValueError(f"recall has {rec.size} points but precision has {prec.size}")
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    # Running maximum from the right; fmax returns the non-NaN argument, like MATLAB's max.
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


@dataclass
class PRCurve:
    """A precision/recall curve: point ``k`` counts the predictions with score >= ``thresholds[k]``.

    Points are ordered by decreasing threshold (so recall never decreases). ``precision`` may hold
    NaN where nothing counted yet (the official tools keep those 0/0 points).
    """

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    ap: float
    label: str = ""

    def __post_init__(self) -> None:
        self.precision = np.asarray(self.precision, dtype=np.float64)
        self.recall = np.asarray(self.recall, dtype=np.float64)
        self.thresholds = np.asarray(self.thresholds, dtype=np.float64)
        if not (self.precision.shape == self.recall.shape == self.thresholds.shape):
            raise ValueError("precision, recall and thresholds must have the same length")

    def __len__(self) -> int:
        return len(self.precision)


@dataclass
class ImageResult:
    """What happened to one image's predictions and faces (for the app's error browser).

    ``scores`` are the scores the metric ranked by (min-max normalised in the official protocols),
    in the caller's original prediction order; all per-prediction arrays use that order.
    ``pred_gt`` is the face a prediction was matched to (official protocols: its best face when
    IoU >= 0.5, whatever its status), -1 for none; ``pred_iou`` its IoU with its best face.
    ``gt_hit_score`` is the score of the prediction that first recalled the face (NaN: never).
    ``skipped``: the official rules left this image out of the counts (no faces or no predictions).
    """

    name: str
    scores: np.ndarray
    pred_gt: np.ndarray
    pred_iou: np.ndarray
    pred_status: np.ndarray
    gt_ignored: np.ndarray
    gt_hit_score: np.ndarray
    skipped: bool = False

    def errors_at(self, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of (true-positive predictions, false-positive predictions, missed faces) when
        only predictions with score >= ``threshold`` are kept. Duplicates count as false positives;
        ignored predictions and ignored faces appear in none of the lists."""
        keep = self.scores >= threshold
        tp = np.nonzero(keep & (self.pred_status == TP))[0]
        fp = np.nonzero(keep & ((self.pred_status == FP) | (self.pred_status == DUP)))[0]
        with np.errstate(invalid="ignore"):
            found = self.gt_hit_score >= threshold
        fn = np.nonzero(~self.gt_ignored & ~found)[0]
        return tp, fp, fn


@dataclass
class EvalResult:
    """The outcome of one metric: headline AP, its PR curve, per-image details and extras."""

    protocol: str
    ap: float
    curve: PRCurve
    images: list[ImageResult]
    num_faces: int
    num_predictions: int
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, PRCurve] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def image(self, name: str) -> ImageResult:
        for img in self.images:
            if img.name == name:
                return img
        raise KeyError(name)
