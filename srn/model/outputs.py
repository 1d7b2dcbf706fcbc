"""What the network returns: raw per-level predictions, flattened in the authors' anchor order.

Order inside a level: cell-major (row by row, then column), anchor-minor, i.e. index
``(y·W + x)·A + a`` — a prediction tensor (N, A·C, H, W) permuted to (N, H, W, A, C) and
reshaped to (N, H·W·A, C). First-step tensors are ``None`` where the selective computation
skips them (classification off the STC levels, regression off the STR levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class LevelOutput:
    cls2: Tensor  # (N, H·W·A) second-step classification logits
    box2: Tensor  # (N, H·W·A, 4) second-step box deltas (dx, dy, dw, dh)
    cls1: Tensor | None  # (N, H·W·A) first-step logits, or None where not computed
    box1: Tensor | None  # (N, H·W·A, 4) first-step deltas, or None where not computed
    size: tuple[int, int]  # (H, W) of the feature map
    stride: int


@dataclass
class SRNOutput:
    levels: list[LevelOutput]  # P2 .. P7

    def to_float32(self) -> SRNOutput:
        """Every prediction in float32, in place (after autocast: losses and decoding need it)."""
        for level in self.levels:
            for name in ("cls1", "box1", "cls2", "box2"):
                value = getattr(level, name)
                if value is not None and value.dtype != torch.float32:
                    setattr(level, name, value.float())
        return self
