"""numpy RGB/grey arrays <-> QImage without surprises (copies, so numpy memory can go away)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_qimage(array: np.ndarray) -> QImage:
    """uint8 (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey -> an owned QImage."""
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    h, w = a.shape[:2]
    if a.ndim == 2:
        fmt, bpl = QImage.Format.Format_Grayscale8, w
    elif a.shape[2] == 3:
        fmt, bpl = QImage.Format.Format_RGB888, 3 * w
    elif a.shape[2] == 4:
        fmt, bpl = QImage.Format.Format_RGBA8888, 4 * w
    else:
        raise ValueError(f"expected 1, 3 or 4 channels, got shape {a.shape}")
    return QImage(a.data, w, h, bpl, fmt).copy()
