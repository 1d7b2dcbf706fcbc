"""Inference backends: what runs SRN's network for ``srn.engine.detector.Detector``.

A backend turns equally sized uint8 RGB images into the network's raw ``SRNOutput``; decoding,
STC/STR selection, NMS and voting stay the project's own (``srn.engine.postprocess``) and run
on whatever the backend returns, so every backend keeps the authors' semantics.

* ``torch`` (``torch_backend``): the model itself, on any device, fp32 or autocast fp16/bf16;
  the only backend on a GPU.
* ``openvino`` (``openvino_backend``): the same module converted by ``openvino.convert_model``
  and compiled for the CPU, fp32, bf16 (only where the CPU has it natively), or int8 (NNCF
  post-training quantisation, where ``nncf`` is installed); compiled models are cached on disk
  (``compile_cache``).

``choose`` resolves ``"auto"``: OpenVINO on the CPU when it loads, and the fastest precision
that passes the per-model agreement check against fp32 (``agreement``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the command line reads the choices below without importing torch
    import numpy as np

    from srn.model.outputs import SRNOutput

BACKENDS = ("torch", "openvino")
BACKEND_CHOICES = (*BACKENDS, "auto")
PRECISION_CHOICES = ("fp32", "fp16", "bf16", "int8", "auto")
BACKEND_ENV = "DARKFACE_BACKEND"


def default_backend() -> str:
    """``$DARKFACE_BACKEND`` (torch, openvino or auto), else ``"auto"``: what the window and
    ``srn detect`` run unless told otherwise."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if value not in BACKEND_CHOICES:
        raise ValueError(f"${BACKEND_ENV} must be one of {', '.join(BACKEND_CHOICES)}, got {value!r}")
    return value


class InferenceBackend(Protocol):
    """Runs the network: ``run`` takes equally sized uint8 RGB (H, W, 3) images."""

    name: str  # "torch" or "openvino"
    precision: str  # "fp32", "fp16", "bf16" or "int8"

    def run(self, images: list[np.ndarray]) -> SRNOutput: ...

    def describe(self) -> str: ...
