"""Configuration of the SRN detector: architecture, anchors and inference thresholds.

Defaults are the authors' released values (ChiCheng123/SRN ``config/config.json`` and test
code; pinned in ``shared/reference/srn.md``). Everything is a frozen dataclass so it can be
stored in a checkpoint's metadata and compared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The backbone's input normalisation (RGB in [0, 1]): training and detection must agree."""

BACKBONES = ("resnet18", "resnet50", "resnet101")
MAX_CHANNELS = 1024
"""Widest FPN/head accepted (the authors use 256): a checkpoint's metadata cannot make the
network ask for terabytes."""
_MAX_ANCHOR_KINDS = 8


def _number(value, what: str, *, integer: bool, low: float, high: float):
    """``value`` if it is a real (``integer``: whole) number in [low, high]; ``ValueError`` otherwise."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise ValueError(f"{what} must be {'a whole' if integer else 'a'} number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g}, got {value!r}")
    return value


def _sequence(values, what: str, *, lengths: range) -> tuple:
    if not isinstance(values, tuple | list) or len(values) not in lengths:
        raise ValueError(f"{what} must be a list of {lengths.start}–{lengths.stop - 1} values, got {values!r}")
    return tuple(values)


@dataclass(frozen=True)
class SRNConfig:
    """The network and its anchors."""

    backbone: str = "resnet50"
    channels: int = 256  # FPN and head width
    strides: tuple[int, ...] = (4, 8, 16, 32, 64, 128)  # P2 .. P7
    anchor_scales: tuple[float, ...] = (2.0, 2.828427)  # × stride, the authors' config value for 2√2
    anchor_ratios: tuple[float, ...] = (1.25,)  # height / width
    stc_levels: tuple[int, ...] = (0, 1, 2)  # selective two-step classification on P2–P4
    str_levels: tuple[int, ...] = (3, 4, 5)  # selective two-step regression on P5–P7

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        _number(self.channels, "channels", integer=True, low=1, high=MAX_CHANNELS)
        strides = _sequence(self.strides, "strides", lengths=range(6, 7))
        for stride in strides:
            _number(stride, "a stride", integer=True, low=1, high=4096)
        if list(strides) != sorted(set(strides)):
            raise ValueError(f"strides must increase from P2 to P7, got {list(strides)}")
        for name, high in (("anchor_scales", 64.0), ("anchor_ratios", 16.0)):
            for value in _sequence(getattr(self, name), name, lengths=range(1, _MAX_ANCHOR_KINDS + 1)):
                _number(value, f"each of {name}", integer=False, low=1e-3, high=high)
        for name in ("stc_levels", "str_levels"):
            levels = _sequence(getattr(self, name), name, lengths=range(0, 7))
            for level in levels:
                _number(level, f"each of {name}", integer=True, low=0, high=5)
            if len(set(levels)) != len(levels):
                raise ValueError(f"{name} repeats a level: {list(levels)}")

    @property
    def anchors_per_cell(self) -> int:
        return len(self.anchor_scales) * len(self.anchor_ratios)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> SRNConfig:
        """``ValueError`` naming the field for an unknown field, a wrong type or an absurd size."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SRN config field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True)
class InferenceConfig:
    """Selection, NMS and voting, as the authors' test code does them."""

    first_step_threshold: float = 0.01  # STC: first-step score must exceed this on STC levels
    score_threshold: float = 0.05  # second-step score threshold ...
    small_level_cells: int = 120  # ... replaced by 0.0 on levels with fewer cells than this
    pre_nms_top_k: int = 6000  # per level, by second-step score
    nms_iou: float = 0.4  # inclusive "+1" IoU
    keep_top_k: int = 750
    vote_iou: float = 0.5  # box voting (multi-scale test), inclusive "+1" IoU
    vote_drop_singletons: bool = True  # the authors' voting drops clusters of one box
    max_delta: float = math.log(1000.0 / 16.0)  # clamp of dw, dh before exp (safety only)

    def to_dict(self) -> dict:
        return asdict(self)
