"""Precision/recall plots as PNG, drawn with OpenCV lines (no matplotlib), written atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from srn.eval.curves import PRCurve
from srn.fileio import atomic_write_bytes

# BGR colours for successive curves.
COLORS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140)]


def render_pr(curves: Sequence[PRCurve], title: str = "Precision / recall",
              size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A BGR uint8 image of the curves (recall on x, precision on y, both 0..1), AP in the legend.
    Points with NaN precision or recall are left out."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 40, 50
    pw, ph = w - left - right, h - top - bottom

    def to_px(r: np.ndarray, p: np.ndarray) -> np.ndarray:
        x = left + np.clip(r, 0, 1) * pw
        y = top + (1 - np.clip(p, 0, 1)) * ph
        return np.stack([x, y], axis=1).round().astype(np.int32)

    font = cv2.FONT_HERSHEY_SIMPLEX
    for k in range(11):
        v = k / 10
        x = int(round(left + v * pw))
        y = int(round(top + (1 - v) * ph))
        cv2.line(img, (x, top), (x, top + ph), (230, 230, 230), 1)
        cv2.line(img, (left, y), (left + pw, y), (230, 230, 230), 1)
        if k % 2 == 0:
            cv2.putText(img, f"{v:.1f}", (x - 12, top + ph + 18), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.putText(img, f"{v:.1f}", (left - 32, y + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    cv2.putText(img, "recall", (left + pw // 2 - 20, h - 12), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "precision", (4, top - 10), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, title[:60], (left + 70, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i, c in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        ok = ~(np.isnan(c.recall) | np.isnan(c.precision))
        pts = to_px(c.recall[ok], c.precision[ok])
        if len(pts) >= 2:
            cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, color, 2, cv2.LINE_AA)
        elif len(pts) == 1:
            cv2.circle(img, tuple(int(v) for v in pts[0]), 3, color, -1, cv2.LINE_AA)
        ly = top + ph - 12 - 18 * (len(curves) - 1 - i)
        cv2.line(img, (left + 10, ly - 4), (left + 35, ly - 4), color, 2, cv2.LINE_AA)
        cv2.putText(img, f"{c.label or 'curve'}  AP {c.ap:.4f}"[:50], (left + 42, ly), font, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return img


def write_pr_png(path: str | os.PathLike[str], curves: Sequence[PRCurve], title: str = "Precision / recall") -> Path:
    """Render ``curves`` and write the PNG atomically (``cv2.imencode`` + ``atomic_write_bytes``)."""
    ok, buf = cv2.imencode(".png", render_pr(curves, title))
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    return atomic_write_bytes(path, buf.tobytes())
