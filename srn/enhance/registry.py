"""The list of enhancement methods: what the GUI shows in its method menu and the CLI accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from srn.enhance import classic, lime, retinex, sci
from srn.enhance.params import MethodParams, ParamError


@dataclass(frozen=True)
class Method:
    """One enhancement method: its name, a label for people, its parameter class, and how it runs.

    ``run(source, params, max_pixels)`` is the same call for every method: ``source`` is an image,
    or, for a method that ``uses_retinex_cache``, that image's ``RetinexCache`` (reused while a
    slider moves; made here when an image is given). ``torch_op`` names the method's torch
    implementation in ``srn.enhance.torch_ops.TORCH_OPS``, so the GPU path is registered with it.
    """

    name: str
    label: str
    params_type: type[MethodParams]
    uses_retinex_cache: bool
    numpy_run: Callable[..., np.ndarray]
    torch_op: str

    def run(self, source, params: MethodParams, max_pixels: int | None = None) -> np.ndarray:
        if not self.uses_retinex_cache:
            return self.numpy_run(source, params, max_pixels)
        if not isinstance(source, retinex.RetinexCache):
            source = (retinex.RetinexCache(source, max_pixels=max_pixels) if max_pixels
                      else retinex.RetinexCache(source))
        return self.numpy_run(source, params)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("msrcr", "MSRCR (Retinex + colour restoration)", retinex.MSRCRParams, True, retinex.msrcr,
               "retinex"),
        Method("msr", "MSR (multi-scale Retinex)", retinex.MSRParams, True, retinex.msr, "retinex"),
        Method("msrcp", "MSRCP (Retinex on intensity, colour kept)", retinex.MSRCPParams, True, retinex.msrcp,
               "retinex"),
        Method("gamma", "Gamma", classic.GammaParams, False, classic.gamma, "gamma"),
        Method("clahe", "CLAHE (OpenCV)", classic.CLAHEParams, False, classic.clahe, "clahe"),
        Method("sci", "SCI (learned illumination, CVPR 2022)", sci.SCIParams, False, sci.sci, "sci"),
        Method("lime", "LIME (illumination map, TIP 2017)", lime.LIMEParams, False, lime.lime, "lime"),
    )
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ParamError(f"unknown enhancement method {name!r} (known: {', '.join(METHODS)})") from None


def params_from_dict(data: dict) -> MethodParams:
    """Parameters of any method from their JSON dict (``{"method": ..., ...}``), validated."""
    if "method" not in data:
        raise ParamError("preset has no 'method' field")
    return get_method(data["method"]).params_type.from_dict(data)
