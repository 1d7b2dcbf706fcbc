"""SRN as one graph an inference runtime can compile: uint8 pixels in, a flat tuple of tensors out.

Runtimes such as OpenVINO compile a traced graph whose inputs and outputs are plain tensors, so
``InferenceGraph`` wraps the network with its input normalisation (uint8 RGB NHWC →
ImageNet-normalised float NCHW, fused by the runtime into the first convolution) and returns the
selective computation's kept predictions in the fixed order :func:`output_layout` names. The
post-processing never runs inside the graph: :func:`to_srn_output` rebuilds the ``SRNOutput``
the project's own STC/STR selection, decoding and NMS take, so every backend's detections keep
the authors' semantics.

The graph keeps the input's height and width dynamic; level sizes follow from them
(:func:`level_sizes`: side ``ceil(S / stride)``, see ``srn.model.backbone``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from srn.model.config import IMAGENET_MEAN, IMAGENET_STD, SRNConfig
from srn.model.outputs import LevelOutput, SRNOutput

if TYPE_CHECKING:
    from srn.model.srn_net import SRN

GRAPH_VERSION = 1
"""Bumped whenever the graph's inputs, outputs or normalisation change (compiled caches key on it)."""


def output_layout(config: SRNConfig) -> list[tuple[int, str]]:
    """(level, field) of each graph output, in order: per level ``cls2``, ``box2``, then ``cls1``
    on STC levels and ``box1`` on STR levels (what the selective computation keeps)."""
    layout = []
    for level in range(len(config.strides)):
        layout += [(level, "cls2"), (level, "box2")]
        if level in config.stc_levels:
            layout.append((level, "cls1"))
        if level in config.str_levels:
            layout.append((level, "box1"))
    return layout


def level_sizes(height: int, width: int, config: SRNConfig) -> list[tuple[int, int]]:
    """(H, W) of each level's feature map for an input of ``height`` × ``width`` pixels."""
    return [(math.ceil(height / s), math.ceil(width / s)) for s in config.strides]


class PixelNormalisation(nn.Module):
    """(N, H, W, 3) uint8 RGB pixels → ImageNet-normalised float (N, 3, H, W): the network's
    input, for the torch backend and inside the graph alike."""

    mean: Tensor
    std: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

    def forward(self, images: Tensor) -> Tensor:
        return (images.permute(0, 3, 1, 2).float() - self.mean) / self.std


class InferenceGraph(nn.Module):
    """``model`` with its input normalisation: (N, H, W, 3) uint8 RGB → the outputs of
    :func:`output_layout` (selective computation, float32)."""

    def __init__(self, model: SRN) -> None:
        super().__init__()
        self.model = model
        self.layout = output_layout(model.config)
        self.normalise = PixelNormalisation()

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        output = self.model(self.normalise(images), compute="selective")
        return tuple(getattr(output.levels[level], name) for level, name in self.layout)


def to_srn_output(tensors: Sequence[Tensor], config: SRNConfig, height: int, width: int) -> SRNOutput:
    """The graph's flat outputs for an input of ``height`` × ``width`` back as an ``SRNOutput``."""
    layout = output_layout(config)
    if len(tensors) != len(layout):
        raise ValueError(f"expected {len(layout)} graph outputs, got {len(tensors)}")
    fields: list[dict[str, Tensor | None]] = [{"cls1": None, "box1": None} for _ in config.strides]
    for (level, name), tensor in zip(layout, tensors):
        fields[level][name] = tensor
    sizes = level_sizes(height, width, config)
    levels = []
    for i, (f, size, stride) in enumerate(zip(fields, sizes, config.strides)):
        cells = size[0] * size[1] * config.anchors_per_cell
        cls2, box2 = f["cls2"], f["box2"]
        assert cls2 is not None and box2 is not None
        if cls2.shape[-1] != cells:
            raise ValueError(f"level P{i + 2}: {cls2.shape[-1]} predictions for a {size[0]}×{size[1]} map "
                             f"of {config.anchors_per_cell} anchors per cell")
        levels.append(LevelOutput(cls2=cls2, box2=box2, cls1=f["cls1"], box1=f["box1"], size=size, stride=stride))
    return SRNOutput(levels=levels)
