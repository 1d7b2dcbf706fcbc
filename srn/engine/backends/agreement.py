"""Does a lower precision keep the boxes? The per-model check behind ``precision="auto"``.

Lower precision is never assumed safe: with realistic activations bf16 can move a random
network's boxes a lot, and a trained network may fare better or worse. So each candidate is run
on a few images and compared with the fp32 reference: of each image's top ``TOP_K`` reference
boxes, at least ``MIN_TWIN_FRACTION`` must have a twin among the candidate's boxes with IoU ≥
``MIN_IOU`` and a score within ``MAX_SCORE_GAP``. The worst image decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torchvision.ops import box_iou

from srn.engine.postprocess import Detections

TOP_K = 50
MIN_IOU = 0.95
MAX_SCORE_GAP = 0.01
MIN_TWIN_FRACTION = 0.98


@dataclass(frozen=True)
class Agreement:
    """How a candidate's detections compare with the reference's, over a few images."""

    images: int
    twin_fraction: float  # worst image: share of its top-K reference boxes with a twin
    max_score_gap: float  # largest |score difference| between twins (0 without twins)

    @property
    def passed(self) -> bool:
        return self.twin_fraction >= MIN_TWIN_FRACTION

    def describe(self) -> str:
        return (f"{self.twin_fraction:.1%} of the top-{TOP_K} fp32 boxes kept (IoU ≥ {MIN_IOU}, "
                f"score ± {MAX_SCORE_GAP}) on {self.images} images, score drift ≤ {self.max_score_gap:.4f}")

    def to_json(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def twins(reference: Detections, candidate: Detections, top_k: int = TOP_K) -> tuple[int, int, float]:
    """(twinned, compared, largest score gap among twins) for one image's top-``top_k`` reference boxes."""
    order = torch.argsort(reference.scores, descending=True)[:top_k]
    ref_boxes, ref_scores = reference.boxes[order].float(), reference.scores[order].float()
    if not len(order):
        return 0, 0, 0.0
    if not len(candidate.scores):
        return 0, len(order), 0.0
    iou = box_iou(ref_boxes, candidate.boxes.float())
    gap = (ref_scores[:, None] - candidate.scores.float()[None, :]).abs()
    ok = (iou >= MIN_IOU) & (gap <= MAX_SCORE_GAP)
    twinned = ok.any(dim=1)
    worst = float(gap.masked_fill(~ok, float("inf")).min(dim=1).values[twinned].max()) if twinned.any() else 0.0
    return int(twinned.sum()), len(order), worst


def agreement(reference: Sequence[Detections], candidate: Sequence[Detections], top_k: int = TOP_K) -> Agreement:
    """Compare two runs over the same images (an image whose reference has no boxes agrees)."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference images but {len(candidate)} candidate images")
    fractions, gaps = [], [0.0]
    for ref, cand in zip(reference, candidate):
        twinned, compared, gap = twins(ref, cand, top_k)
        fractions.append(twinned / compared if compared else 1.0)
        gaps.append(gap)
    return Agreement(images=len(reference), twin_fraction=min(fractions, default=1.0), max_score_gap=max(gaps))
