"""Before/after luminance histogram: shows at a glance what an enhancement did to the tones.

Night images pile up in the first few grey levels; after Retinex they should spread out. Two
curves (original, enhanced) of Rec. 601 luma in 256 bins, each normalised to a fraction of
pixels so a full-resolution original and a display-resolution preview compare directly. Large
images are subsampled on a regular grid before counting, which keeps an update well under a
millisecond per megapixel and changes the shape of a histogram by far less than a line width.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

BINS = 256
MAX_SAMPLES = 1 << 18
"""Pixels counted per image at most (a 512×512 grid); bigger images are strided down to it."""
BEFORE_PEN = pg.mkPen((160, 160, 160), width=1.5)
AFTER_PEN = pg.mkPen((255, 160, 40), width=1.5)


def luma_histogram(rgb: np.ndarray, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """Fraction of pixels per Rec. 601 luma level (256 floats summing to 1) of a uint8 image.

    Grey images count as their own luma. Integer weights (299, 587, 114 per mille) avoid a float
    image; rounding matches ``cv2.cvtColor(..., COLOR_RGB2GRAY)`` to within one level.
    """
    image = np.asarray(rgb)
    if image.dtype != np.uint8:
        raise ValueError(f"luma_histogram expects uint8 pixels, got {image.dtype}")
    h, w = image.shape[:2]
    if h * w > max_samples:
        step = math.ceil(math.sqrt(h * w / max_samples))
        image = image[::step, ::step]
    if image.ndim == 3 and image.shape[2] >= 3:
        weighted = image[..., :3].astype(np.uint32) * np.array([299, 587, 114], np.uint32)
        luma = (weighted.sum(axis=-1) + 500) // 1000
    else:
        luma = image.reshape(image.shape[:2])
    counts = np.bincount(luma.ravel(), minlength=BINS)[:BINS].astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


class LuminanceHistogram(QWidget):
    """A small plot of the luma histogram before (grey) and after (orange) enhancement."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=(24, 24, 24))
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setXRange(0, BINS - 1, padding=0.01)
        self.plot.getPlotItem().getAxis("left").setStyle(showValues=False)
        self.plot.addLegend(offset=(-5, 5))
        self.plot.setMinimumHeight(90)
        x = np.arange(BINS, dtype=np.float64)
        zeros = np.zeros(BINS)
        self.before_curve = self.plot.plot(x, zeros, pen=BEFORE_PEN, name="original")
        self.after_curve = self.plot.plot(x, zeros, pen=AFTER_PEN, name="enhanced")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_images(self, before_rgb: np.ndarray | None, after_rgb: np.ndarray | None) -> None:
        """Show the histograms of ``before_rgb`` and ``after_rgb``; ``None`` leaves a flat curve."""
        x = np.arange(BINS, dtype=np.float64)
        for curve, image in ((self.before_curve, before_rgb), (self.after_curve, after_rgb)):
            curve.setData(x, np.zeros(BINS) if image is None else luma_histogram(image))

    def set_after(self, after_rgb: np.ndarray | None) -> None:
        """Update only the enhanced curve (every preview frame; the original does not change)."""
        x = np.arange(BINS, dtype=np.float64)
        self.after_curve.setData(x, np.zeros(BINS) if after_rgb is None else luma_histogram(after_rgb))

    def clear(self) -> None:
        self.set_images(None, None)
