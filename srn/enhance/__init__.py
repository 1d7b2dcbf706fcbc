"""Image enhancement for night images: MSRCR and the methods it is compared with (MSR, MSRCP,
SCI, LIME, gamma, CLAHE).

``enhance(image, params)`` is the one entry point (numpy in, uint8 RGB out); pass a
``RetinexCache`` to reuse work between calls on the same image (slider moves), or
``device="cuda"`` (or any torch device) to run the batched torch implementation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from srn.enhance.classic import CLAHEParams, GammaParams
from srn.enhance.image_input import DEFAULT_MAX_PIXELS, ImageInputError, to_float_rgb
from srn.enhance.lime import LIMEParams
from srn.enhance.params import MethodParams, ParamError, ParamSpec
from srn.enhance.registry import METHODS, Method, get_method, params_from_dict
from srn.enhance.retinex import MSRCPParams, MSRCRParams, MSRParams, RetinexCache
from srn.enhance.sci import SCIParams

if TYPE_CHECKING:
    import torch


def enhance(
    image: np.ndarray,
    params: MethodParams | None = None,
    *,
    cache: RetinexCache | None = None,
    exact: bool = False,
    device: str | torch.device | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Enhance one image with ``params`` (default: MSRCR with the standard parameters).

    ``exact=True`` computes every surround at full resolution in float64 (the reference the fast
    path is tested against; seconds per image). ``device`` selects the torch implementation.
    """
    params = params or MSRCRParams()
    method = get_method(params.method)
    if device is not None:
        from srn.enhance import torch_ops

        return torch_ops.enhance_numpy(image, params, device=device, max_pixels=max_pixels)
    if method.uses_retinex_cache and cache is None:
        cache = RetinexCache(image, exact=exact, max_pixels=max_pixels)
    return method.run(cache if method.uses_retinex_cache else image, params, max_pixels)


__all__ = [
    "CLAHEParams", "DEFAULT_MAX_PIXELS", "GammaParams", "ImageInputError", "LIMEParams", "METHODS", "MSRCPParams",
    "MSRCRParams", "MSRParams", "Method", "MethodParams", "ParamError", "ParamSpec", "RetinexCache", "SCIParams",
    "enhance", "get_method", "params_from_dict", "to_float_rgb",
]
