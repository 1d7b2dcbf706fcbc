"""Receptive Field Enhancement (RFE): the SRN head's answer to faces that are not square.

Square 3×3 receptive fields suit square objects; faces (and anchors, ratio 1.25) are taller than
wide and vary a lot in aspect. RFE adds four cheap branches with rectangular kernels — 1×5, 5×1,
1×3, 3×1, in that order (``branch0`` … ``branch3``) — each a 1×1 reduction to a quarter of the
channels, the rectangular conv ("same" padding), and a 1×1 conv, every conv followed by a ReLU.
The four results are concatenated back to full width, mixed by a 1×1 conv + ReLU (``cated_conv``)
and added to the input (a residual, so RFE starts as a near-identity and cannot hurt the plain head).

Layer names, kernel order, padding and biases follow the authors' ``RFE`` (ChiCheng123/SRN,
``srn/model/resnet_srn.py``), so their checkpoint's ``*_subnet.2.*`` keys load as they are.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# The branch kernels (height, width), in the authors' order.
BRANCH_KERNELS: tuple[tuple[int, int], ...] = ((1, 5), (5, 1), (1, 3), (3, 1))


def _branch(channels: int, inter: int, kernel: tuple[int, int]) -> nn.Sequential:
    """1×1 reduce – ReLU – rectangular conv – ReLU – 1×1 – ReLU (keys ``.0``, ``.2``, ``.4``)."""
    padding = (kernel[0] // 2, kernel[1] // 2)
    return nn.Sequential(
        nn.Conv2d(channels, inter, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(inter, inter, kernel_size=kernel, padding=padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(inter, inter, kernel_size=1),
        nn.ReLU(inplace=True),
    )


class RFE(nn.Module):
    """Four rectangular-kernel branches, concatenated, mixed by a 1×1 conv, plus the input."""

    def __init__(self, in_channels: int = 256, out_channels: int = 256) -> None:
        super().__init__()
        if in_channels % 4:
            raise ValueError(f"RFE splits its input into four branches; {in_channels} is not a multiple of 4")
        if out_channels != in_channels:
            raise ValueError("RFE adds its input back, so out_channels must equal in_channels")
        inter = in_channels // 4
        self.branch0 = _branch(in_channels, inter, BRANCH_KERNELS[0])
        self.branch1 = _branch(in_channels, inter, BRANCH_KERNELS[1])
        self.branch2 = _branch(in_channels, inter, BRANCH_KERNELS[2])
        self.branch3 = _branch(in_channels, inter, BRANCH_KERNELS[3])
        self.cated_conv = nn.Sequential(nn.Conv2d(4 * inter, out_channels, kernel_size=1), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x))
        return self.cated_conv(torch.cat(branches, dim=1)) + x
