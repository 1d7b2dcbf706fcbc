"""The cheap classics that users compare Retinex against: gamma correction and CLAHE."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from srn.enhance.image_input import to_float_rgb
from srn.enhance.params import MethodParams, ParamSpec, param


@dataclass(frozen=True)
class GammaParams(MethodParams):
    """``out = 255 · (in / 255) ^ γ``; γ < 1 brightens the dark tones most."""

    method = "gamma"
    gamma: float = param(0.4, ParamSpec("gamma", "Gamma γ", minimum=0.05, maximum=5.0, log_scale=True))


@dataclass(frozen=True)
class CLAHEParams(MethodParams):
    """Contrast-limited adaptive histogram equalisation on the lightness (L of CIE Lab)."""

    method = "clahe"
    clip_limit: float = param(3.0, ParamSpec("clip_limit", "Clip limit", minimum=0.1, maximum=40.0, log_scale=True))
    tiles: int = param(8, ParamSpec("tiles", "Tiles per side", kind="int", minimum=1, maximum=64))


def gamma(image: np.ndarray, p: GammaParams, max_pixels: int | None = None) -> np.ndarray:
    rgb = to_float_rgb(image, *([max_pixels] if max_pixels else []))
    lut = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** p.gamma), 0, 255).astype(np.uint8)
    if np.asarray(image).dtype == np.uint8:
        return cv2.LUT(np.ascontiguousarray(rgb.astype(np.uint8)), lut)
    out = 255.0 * (rgb / 255.0) ** np.float32(p.gamma)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def clahe(image: np.ndarray, p: CLAHEParams, max_pixels: int | None = None) -> np.ndarray:
    rgb = to_float_rgb(image, *([max_pixels] if max_pixels else []))
    lab = cv2.cvtColor(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB)
    tool = cv2.createCLAHE(clipLimit=float(p.clip_limit), tileGridSize=(int(p.tiles), int(p.tiles)))
    lab[:, :, 0] = tool.apply(np.ascontiguousarray(lab[:, :, 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
