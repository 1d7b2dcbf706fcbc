"""Evaluation metrics that reproduce the official WIDER FACE and DARK FACE tools.

* :mod:`srn.eval.official`: the official WIDER FACE / DARK FACE protocol (quirks included).
* :mod:`srn.eval.matching`: IoU helpers, one-to-one AP@0.5 and COCO-style AP@[.5:.95].
* :mod:`srn.eval.curves`: PR curves, VOC all-point AP, per-image results.
* :mod:`srn.eval.plot`: PR curve PNGs drawn with OpenCV.

Everything works on plain numpy arrays; reading files is left to :mod:`srn.commands.evaluate`.
"""

from srn.eval.curves import DUP, FP, IGNORED, TP, EvalResult, ImageResult, PRCurve, voc_ap
from srn.eval.matching import evaluate_ap50, evaluate_coco, iou_matrix
from srn.eval.official import evaluate_darkface, evaluate_official, evaluate_wider, normalize_scores

__all__ = [
    "DUP", "FP", "IGNORED", "TP", "EvalResult", "ImageResult", "PRCurve", "voc_ap",
    "evaluate_ap50", "evaluate_coco", "iou_matrix",
    "evaluate_darkface", "evaluate_official", "evaluate_wider", "normalize_scores",
]
