"""The torch backend: the SRN module itself on its device (the only backend on a GPU)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from srn.model.inference_graph import PixelNormalisation
from srn.model.outputs import SRNOutput
from srn.model.srn_net import SRN

AUTOCAST = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    """``model`` on ``device``; ``precision`` fp32, or fp16/bf16 by autocast (fp16 on a GPU only)."""

    name = "torch"

    def __init__(self, model: SRN, device: torch.device, precision: str = "fp32", channels_last: bool = True) -> None:
        if precision not in AUTOCAST:
            raise ValueError(f"the torch backend runs {', '.join(AUTOCAST)}, not {precision!r}")
        if precision == "fp16" and device.type == "cpu":
            raise ValueError("fp16 inference needs a GPU; use bf16 or fp32 on the CPU")
        self.device = device
        self.precision = precision
        self.compute = "selective"  # "naive": every subnet on every level, as the authors' code
        self.model = model.to(device).eval()
        self._normalise = PixelNormalisation().to(device)
        self.set_channels_last(channels_last)

    def set_channels_last(self, enabled: bool) -> None:
        """NHWC memory format: the fast layout for oneDNN (CPU) and tensor cores (CUDA); it
        changes the order of floating-point sums, so results match NCHW to ~1e-5, not bitwise."""
        self.channels_last = enabled
        fmt = torch.channels_last if enabled else torch.contiguous_format
        self.model = self.model.to(memory_format=fmt)

    def to_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 RGB (H, W, 3) images of one size -> normalised (N, 3, H, W) on the device."""
        return self._normalise(torch.from_numpy(np.stack(images)).to(self.device, non_blocking=True))

    @torch.inference_mode()
    def run(self, images: Sequence[np.ndarray]) -> SRNOutput:
        # The HWC → CHW permute leaves NHWC strides; make the layout the one asked for (a
        # channels_last input makes every conv after it run channels_last, whatever the weights).
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        batch = self.to_tensor(images).contiguous(memory_format=fmt)
        dtype = AUTOCAST[self.precision]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            output = self.model(batch, compute=self.compute)
        return output.to_float32()  # post-processing always in float32

    def describe(self) -> str:
        return f"torch {self.precision}"
