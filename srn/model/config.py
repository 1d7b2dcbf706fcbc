"""Configuration of the SRN detector: architecture, anchors and inference thresholds.

Defaults are the authors' released values (ChiCheng123/SRN ``config/config.json`` and test
code; pinned in ``shared/reference/srn.md``). Everything is a frozen dataclass so it can be
stored in a checkpoint's metadata and compared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The backbone's input normalisation (RGB in [0, 1]): training and detection must agree."""

BACKBONES = ("resnet18", "resnet50", "resnet101")


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
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        if len(self.strides) != 6:
            raise ValueError(f"SRN has six levels P2–P7, got strides {self.strides}")

    @property
    def anchors_per_cell(self) -> int:
        return len(self.anchor_scales) * len(self.anchor_ratios)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> SRNConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SRN config field(s): {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


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
