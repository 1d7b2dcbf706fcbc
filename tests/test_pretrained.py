"""ImageNet initialisation from a local file (the download path uses the same loader)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from srn.engine.checkpoint import CheckpointError
from srn.engine.pretrained import TORCHVISION_WEIGHTS, imagenet_state_dict, init_from_imagenet
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN


def test_local_imagenet_file_initialises_the_backbone(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(reference.state_dict(), path)
    model = SRN(SRNConfig(backbone="resnet18"))
    copied = init_from_imagenet(model, path)
    assert "layer4.1.conv2.weight" in copied and not any(k.startswith("fc.") for k in copied)
    assert torch.equal(model.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert torch.equal(model.bn1.running_var, reference.bn1.running_var)


def test_wrong_depth_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(CheckpointError, match=str(path)):
        init_from_imagenet(SRN(SRNConfig(backbone="resnet50")), path)


def test_every_backbone_has_a_torchvision_weight_enum():
    from torchvision.models import get_weight

    for name, enum in TORCHVISION_WEIGHTS.items():
        weight = get_weight(enum)  # resolves without downloading
        assert name.replace("resnet", "") in weight.url
    with pytest.raises(ValueError, match="no ImageNet weights"):
        imagenet_state_dict("vgg16")
