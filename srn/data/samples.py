"""``TrainSample``: one training image and its boxes, whatever dataset it came from.

Pixel convention
    Boxes are float64 (G, 4) **inclusive** pixel extents ``x1 y1 x2 y2`` (0-based; a face covering
    columns 10..19 is ``10 .. 19`` and is ``x2 - x1 + 1 = 10`` px wide), the convention of
    ``srn.formats``. WIDER's zero-size boxes (``x2 = x1 - 1``) are accepted; anything more inverted
    is an error.

Ignore regions
    ``ignore[i]`` marks box ``i`` as a region that is neither a positive nor a negative for the
    loss (anchors matching it are not trained). Faces marked *invalid* by WIDER FACE, and every
    box narrower or lower than ``MIN_BOX_SIZE`` (2 px), are ignore regions: ``TrainSample`` applies
    the size rule itself, so no adapter can forget it.

Weights
    ``weights[i]`` scales box ``i``'s loss: 1 for human labels, lower for pseudo-labels.

Hard negatives
    ``hard_negatives`` (H, 4), same convention: regions a person rejected as "not a face"
    (false positives of an earlier model); the loss may up-weight anchors on them as negatives.

``fully_labelled``
    True when every face of the image is labelled, so unlabelled regions are negatives. False for
    partly labelled images (e.g. a user corrected a few detections): only the labelled boxes and
    hard negatives should produce losses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from srn.enhance.params import MethodParams

MIN_BOX_SIZE = 2.0  # px: a box narrower or lower than this is an ignore region


def box_sizes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive widths and heights (``x2 - x1 + 1``, ``y2 - y1 + 1``) of (G, 4) boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes[:, 2] - boxes[:, 0] + 1.0, boxes[:, 3] - boxes[:, 1] + 1.0


def tiny_boxes(boxes: np.ndarray, min_size: float = MIN_BOX_SIZE) -> np.ndarray:
    """(G,) bool: boxes narrower or lower than ``min_size`` px."""
    w, h = box_sizes(boxes)
    return (w < min_size) | (h < min_size)


def _boxes(value, what: str, where: str) -> np.ndarray:
    if value is None:
        return np.zeros((0, 4), dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{where}: {what} must have shape (N, 4) x1 y1 x2 y2, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{where}: {what} contain non-finite coordinates")
    w, h = box_sizes(arr)
    if (w < 0).any() or (h < 0).any():
        row = int(np.argmax((w < 0) | (h < 0)))
        raise ValueError(f"{where}: inverted box in {what} (x2 < x1 - 1 or y2 < y1 - 1): {arr[row].tolist()}")
    return arr.copy()


@dataclass
class TrainSample:
    """One training image: path, boxes, ignore flags, per-box weights, hard negatives.

    ``enhance`` optionally names ``srn.enhance`` parameters for this image alone (e.g. MSRCR for
    night images in a day+night mix); ``FaceDataset`` applies and caches them.
    """

    image_path: Path
    boxes: np.ndarray  # (G, 4) float64 inclusive x1 y1 x2 y2
    ignore: np.ndarray | None = None  # (G,) bool
    weights: np.ndarray | None = None  # (G,) float32
    hard_negatives: np.ndarray | None = None  # (H, 4) float64
    fully_labelled: bool = True
    enhance: MethodParams | None = field(default=None, compare=False)  # srn.enhance parameters or None

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        where = str(self.image_path)
        self.boxes = _boxes(self.boxes, "boxes", where)
        g = len(self.boxes)
        if self.ignore is None:
            ignore = np.zeros(g, dtype=bool)
        else:
            ignore = np.asarray(self.ignore, dtype=bool).reshape(-1)
            if len(ignore) != g:
                raise ValueError(f"{where}: {g} boxes but {len(ignore)} ignore flags")
        self.ignore = ignore | tiny_boxes(self.boxes)
        if self.weights is None:
            weights = np.ones(g, dtype=np.float32)
        else:
            weights = np.asarray(self.weights, dtype=np.float32).reshape(-1)
            if weights.size == 1 and g != 1:
                weights = np.full(g, float(weights[0]), dtype=np.float32)
            if len(weights) != g:
                raise ValueError(f"{where}: {g} boxes but {len(weights)} weights")
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError(f"{where}: box weights must be finite and non-negative")
        self.weights = weights
        self.hard_negatives = _boxes(self.hard_negatives, "hard negatives", where)
        self.fully_labelled = bool(self.fully_labelled)

    @property
    def num_faces(self) -> int:
        """Boxes that are not ignore regions."""
        assert self.ignore is not None  # set by __post_init__
        return int((~self.ignore).sum())
