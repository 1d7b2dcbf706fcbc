"""ImageNet initialisation of the backbone (the starting point for training from scratch).

Where the user has internet, torchvision's weights API downloads (and caches) the official
ImageNet weights; on air-gapped machines the same state dict can come from a local file. Both
paths end in ``srn.model.backbone.load_imagenet_weights``, which checks every key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from srn.engine.checkpoint import CheckpointError, read_checkpoint_file, split_checkpoint
from srn.model.backbone import load_imagenet_weights

if TYPE_CHECKING:
    from srn.model.srn_net import SRN

# torchvision's weight enums, by our backbone names.
TORCHVISION_WEIGHTS = {
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "resnet101": "ResNet101_Weights.IMAGENET1K_V1",
}


def imagenet_state_dict(backbone: str, path: str | os.PathLike[str] | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet state dict for ``backbone``: from ``path`` if given, else via torchvision
    (downloads once into torch's cache; needs internet the first time)."""
    if path is not None:
        state, _ = split_checkpoint(read_checkpoint_file(path), path)
        return state
    if backbone not in TORCHVISION_WEIGHTS:
        raise ValueError(f"no ImageNet weights known for backbone {backbone!r}")
    from torchvision.models import get_weight

    return get_weight(TORCHVISION_WEIGHTS[backbone]).get_state_dict(progress=True)


def init_from_imagenet(model: SRN, path: str | os.PathLike[str] | None = None) -> list[str]:
    """Initialise ``model``'s ResNet stages from ImageNet; returns the copied keys."""
    backbone = model.config.backbone
    state = imagenet_state_dict(backbone, path)
    try:
        return load_imagenet_weights(model, state)
    except ValueError as exc:
        raise CheckpointError(Path(path) if path else None, str(exc)) from None
