"""Is a downloaded file the model it claims to be? Every key and every shape, before it is used.

The network is built the way ``Detector.from_checkpoint`` builds it (the checkpoint's own SRN
config, else the authors' ResNet-50 one), but on PyTorch's ``meta`` device: shapes without
memory, so checking the authors' 200 MB file costs only reading it once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srn.engine.checkpoint import (
    CheckpointError,
    check_state_dict,
    read_checkpoint_file,
    split_checkpoint,
    srn_config_of,
)


@dataclass(frozen=True)
class Verified:
    """What a checked file holds."""

    path: Path
    kind: str  # "srn" or "imagenet"
    source_format: str  # "authors", "darkface-srn" or "state_dict"
    architecture: str  # e.g. "SRN resnet50" or "resnet18"
    tensors: int
    parameters: int

    def summary(self) -> str:
        return (f"{self.architecture}, {self.tensors} tensors, "
                f"{self.parameters / 1e6:.1f} M values ({self.source_format})")


def _skeleton(build: Callable[[], nn.Module]) -> nn.Module:
    """The module on the meta device (no memory, no init), or on the CPU if it cannot be built there."""
    try:
        with torch.device("meta"):
            return build()
    except Exception:  # noqa: BLE001 - an op without a meta kernel: fall back to real tensors
        return build()


def _verified(path: Path, kind: str, source_format: str, architecture: str, state: Mapping[str, torch.Tensor]):
    return Verified(path, kind, source_format, architecture, len(state), sum(v.numel() for v in state.values()))


def verify_srn(path: str | os.PathLike[str], srn_config: Mapping[str, Any] | None = None) -> Verified:
    """Check that ``path`` loads into the SRN network: its metadata's config, else ``srn_config``,
    else the authors' (ResNet-50). ``CheckpointError`` naming the file and every mismatch otherwise."""
    from srn.model.srn_net import SRN

    path = Path(path)
    state, metadata = split_checkpoint(read_checkpoint_file(path), path)
    config = srn_config_of(metadata, path, default=srn_config)
    check_state_dict(_skeleton(lambda: SRN(config)), state, path)
    return _verified(path, "srn", metadata.source_format, f"SRN {config.backbone}", state)


def verify_imagenet(path: str | os.PathLike[str], backbone: str) -> Verified:
    """Check that ``path`` is a torchvision ``backbone`` state dict (every key and shape)."""
    import torchvision.models

    path = Path(path)
    state, metadata = split_checkpoint(read_checkpoint_file(path), path)
    builder = getattr(torchvision.models, backbone, None)
    if builder is None:
        raise CheckpointError(path, f"torchvision has no model {backbone!r}")
    check_state_dict(_skeleton(lambda: builder(weights=None)), state, path)
    return _verified(path, "imagenet", metadata.source_format, backbone, state)
