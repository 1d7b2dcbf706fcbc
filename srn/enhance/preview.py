"""Interactive preview: enhance at display resolution, reusing work between slider moves.

A slider must answer in a frame or two, whatever the photo's size. ``PreviewSession`` shrinks
the image once to at most ``max_width`` pixels wide (area averaging) and scales the surround
σs by the same factor, so the preview looks like a shrunk copy of the full-resolution result;
its ``RetinexCache`` keeps log I and every surround already computed, so moving one σ slider
recomputes one surround and moving a clip slider recomputes none.
"""

from __future__ import annotations

import cv2
import numpy as np

from srn.enhance.image_input import DEFAULT_MAX_PIXELS, to_float_rgb
from srn.enhance.params import MethodParams
from srn.enhance.registry import get_method
from srn.enhance.retinex import RetinexCache

PREVIEW_MAX_WIDTH = 1280


class PreviewSession:
    """Enhancement previews of one image; call ``render(params)`` on every slider change."""

    def __init__(self, image: np.ndarray, max_width: int = PREVIEW_MAX_WIDTH, max_pixels: int = DEFAULT_MAX_PIXELS):
        rgb = to_float_rgb(image, max_pixels)
        h, w = rgb.shape[:2]
        self.scale = min(1.0, max_width / w)
        if self.scale < 1.0:
            size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        self.image = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        self.cache = RetinexCache(self.image)

    def scaled(self, params: MethodParams) -> MethodParams:
        """``params`` with surround σs in preview pixels."""
        if self.scale >= 1.0 or not hasattr(params, "sigmas"):
            return params
        return params.replace(sigmas=tuple(max(1.0, s * self.scale) for s in params.sigmas))

    def render(self, params: MethodParams) -> np.ndarray:
        method = get_method(params.method)
        p = self.scaled(params)
        return method.run(self.cache if method.uses_retinex_cache else self.image, p)
