"""The list of enhancement methods: what the GUI shows in its method menu and the CLI accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from srn.enhance import classic, retinex
from srn.enhance.params import MethodParams, ParamError


@dataclass(frozen=True)
class Method:
    """One enhancement method: its name, a label for people, its parameter class and its function."""

    name: str
    label: str
    params_type: type[MethodParams]
    uses_retinex_cache: bool
    run: Callable[..., np.ndarray]


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("msrcr", "MSRCR (Retinex + colour restoration)", retinex.MSRCRParams, True, retinex.msrcr),
        Method("msr", "MSR (multi-scale Retinex)", retinex.MSRParams, True, retinex.msr),
        Method("msrcp", "MSRCP (Retinex on intensity, colour kept)", retinex.MSRCPParams, True, retinex.msrcp),
        Method("gamma", "Gamma", classic.GammaParams, False, classic.gamma),
        Method("clahe", "CLAHE (OpenCV)", classic.CLAHEParams, False, classic.clahe),
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
