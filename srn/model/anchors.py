"""SRN anchors: the Detectron-style generator with the "+1" (inclusive pixel) convention.

Per level, the authors (ChiCheng123/SRN ``srn/utils/anchor_helper.py``) start from the base
window ``(0, 0, s − 1, s − 1)`` for stride ``s`` (inclusive width ``s``, centre ``(s − 1)/2``),
then

1. enumerate the aspect ratios (height / width) at constant area: ``w = round(√(s²/r))``,
   ``h = round(w·r)`` (numpy's round-half-to-even, which ``torch.round`` shares);
2. enumerate the scales on each ratio anchor: ``w·k``, ``h·k`` with ``k = (scale·s)/s``;
3. rebuild boxes around the centre with ``x1 = cx − (w − 1)/2``, ``x2 = cx + (w − 1)/2``.

Ratios are the outer loop, scales the inner one; with SRN's one ratio (1.25) and two scales
(2, 2.828427) a cell has two anchors, scale 2 first. The first P2 anchor is
``(-2, -3, 5, 6)``: 8 px wide and 10 px tall counted inclusively (``shared/reference/srn.md``).

Over a feature map of (H, W) cells, cell (i, j) adds ``(j·stride, i·stride)`` to x and y, and
the flattened order is cell-major (row by row, then column), anchor-minor: index
``(i·W + j)·A + a`` — the order of :class:`srn.model.outputs.LevelOutput` predictions.

The base anchors are computed once per (stride, scales, ratios) in float64 and cached;
the grid is built with vectorised torch on the requested device and dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

from srn.model.config import SRNConfig

__all__ = ["base_anchors", "level_anchors", "all_anchors"]


@lru_cache(maxsize=64)
def _base_anchors_cached(stride: int, scales: tuple[float, ...], ratios: tuple[float, ...]) -> Tensor:
    f64 = torch.float64
    size = float(stride)
    # Base window (0, 0, s-1, s-1): inclusive width/height s, centre (s-1)/2.
    ctr = 0.5 * (size - 1.0)
    ratios_t = torch.tensor(ratios, dtype=f64)
    # Ratio enumeration at constant area, rounded as the authors do.
    ws = torch.round(torch.sqrt(size * size / ratios_t))
    hs = torch.round(ws * ratios_t)
    # Scale enumeration: the authors pass sizes = scale·stride and divide by stride again.
    k = torch.tensor([s * size for s in scales], dtype=f64) / size
    ws = (ws[:, None] * k[None, :]).reshape(-1)  # ratio-major, scale-minor
    hs = (hs[:, None] * k[None, :]).reshape(-1)
    anchors = torch.stack(
        [ctr - 0.5 * (ws - 1.0), ctr - 0.5 * (hs - 1.0), ctr + 0.5 * (ws - 1.0), ctr + 0.5 * (hs - 1.0)], dim=1
    )
    return anchors


def base_anchors(
    stride: int,
    config: SRNConfig | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The (A, 4) anchors of cell (0, 0) for ``stride``, x1 y1 x2 y2, in the authors' order."""
    config = config or SRNConfig()
    scales = tuple(float(s) for s in config.anchor_scales)
    ratios = tuple(float(r) for r in config.anchor_ratios)
    cached = _base_anchors_cached(int(stride), scales, ratios)
    out = cached.to(device=device, dtype=dtype)
    return out.clone() if out is cached else out


def level_anchors(
    stride: int,
    height: int,
    width: int,
    config: SRNConfig | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """All anchors of one level: (height·width·A, 4), cell-major, anchor-minor.

    Cell (i, j) (row i, column j) holds ``base + (j·stride, i·stride, j·stride, i·stride)``.
    """
    if height < 0 or width < 0:
        raise ValueError(f"feature map size must be non-negative, got {height}×{width}")
    base = base_anchors(stride, config, device=device, dtype=dtype)  # (A, 4)
    shift_x = torch.arange(width, device=base.device, dtype=dtype) * stride
    shift_y = torch.arange(height, device=base.device, dtype=dtype) * stride
    sy, sx = torch.meshgrid(shift_y, shift_x, indexing="ij")  # (H, W)
    shifts = torch.stack([sx, sy, sx, sy], dim=-1)  # (H, W, 4)
    anchors = shifts[:, :, None, :] + base[None, None, :, :]  # (H, W, A, 4)
    return anchors.reshape(-1, 4)


def all_anchors(
    sizes: Sequence[tuple[int, int]],
    config: SRNConfig | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[Tensor]:
    """Anchors of every level, P2 .. P7: ``sizes`` are the (H, W) of the feature maps."""
    config = config or SRNConfig()
    if len(sizes) != len(config.strides):
        raise ValueError(f"expected {len(config.strides)} level sizes, got {len(sizes)}")
    return [
        level_anchors(stride, int(h), int(w), config, device=device, dtype=dtype)
        for stride, (h, w) in zip(config.strides, sizes)
    ]
