"""The ResNet trunk of SRN: C2–C5 from a standard ResNet, plus two extra stride-2 stages C6, C7.

SRN detects on six levels (strides 4 … 128), so the ResNet's four stages are extended by
``layer5`` (C6) and ``layer6`` (C7): single 3×3 stride-2 convolutions *with* bias, no BN and no
ReLU after them (the authors' ``nn.Conv2d(2048, 1024, 3, 2, 1)`` and ``nn.Conv2d(1024, 256, 3, 2,
1)``; C7 is computed from the raw C6). Module names are the authors' (``conv1``, ``bn1``,
``layer1`` … ``layer6``, blocks named as torchvision's), so both their SRN checkpoint and a
torchvision ImageNet ResNet map onto these parameters without renaming.

Widths: ResNet-50/101 give C2–C5 = 256, 512, 1024, 2048 and, as in the authors' model, C6 = 1024,
C7 = 256. ResNet-18 (BasicBlock) gives C2–C5 = 64, 128, 256, 512; C6 and C7 keep the authors'
ratios to C5 (½ and ⅛), i.e. 256 and 64. (The authors only released ResNet-50.)

Spatial sizes: every stride-2 step (7×7 conv, max-pool, the stride-2 blocks, layer5, layer6) maps
a side s to ceil(s / 2), so level Ck has side ceil(S / 2^k) for an input side S — any H, W work.

As in the authors' ``ResNetSRN``, the stem (``conv1``, ``bn1``) is frozen: its parameters do not
require grad and ``bn1`` stays in eval mode when the model is put in training mode
(``keep_stem_frozen``). ``load_imagenet_weights`` initialises ``conv1``/``bn1``/``layer1``–``layer4``
from a torchvision ResNet state dict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

if TYPE_CHECKING:
    from srn.model.srn_net import SRN

# name -> (block, blocks per stage)
_RESNETS: dict[str, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}
STEM = ("conv1", "bn1")
IMAGENET_PARTS = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")  # what torchvision provides
TRUNK_MODULES = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "layer5", "layer6")


def _make_stage(block: type[BasicBlock | Bottleneck], inplanes: int, planes: int, blocks: int,
                stride: int) -> nn.Sequential:
    """One ResNet stage; the first block projects the shortcut when stride or width change."""
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out),
        )
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNetTrunk(nn.Module):
    """conv1/bn1/maxpool, layer1–layer4 (C2–C5), layer5 (C6), layer6 (C7); forward → (C2, …, C7)."""

    # registered with setattr in __init__
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, name: str = "resnet50") -> None:
        super().__init__()
        if name not in _RESNETS:
            raise ValueError(f"backbone must be one of {', '.join(_RESNETS)}, got {name!r}")
        block, blocks = _RESNETS[name]
        self.name = name
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        widths = [64 * block.expansion * 2**i for i in range(4)]  # C2 .. C5
        inplanes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            setattr(self, f"layer{i + 1}", _make_stage(block, inplanes, planes, n, stride=1 if i == 0 else 2))
            inplanes = planes * block.expansion
        c5 = widths[-1]
        c6, c7 = c5 // 2, c5 // 8  # the authors' 2048 → 1024 → 256
        self.layer5 = nn.Conv2d(c5, c6, kernel_size=3, stride=2, padding=1)
        self.layer6 = nn.Conv2d(c6, c7, kernel_size=3, stride=2, padding=1)
        self.channels: tuple[int, ...] = (*widths, c6, c7)
        freeze_stem(self)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        return trunk_features(self, images)

    def train(self, mode: bool = True) -> ResNetTrunk:
        super().train(mode)
        keep_stem_frozen(self)
        return self


def build_backbone(name: str = "resnet50") -> ResNetTrunk:
    """The SRN trunk for ``name`` in resnet18 / resnet50 / resnet101 (random weights)."""
    return ResNetTrunk(name)


def trunk_features(owner: ResNetTrunk | SRN, images: Tensor) -> tuple[Tensor, ...]:
    """(C2, C3, C4, C5, C6, C7) of ``images`` from a module owning the trunk's layers.

    A function of the owner, not a method, because the SRN owns these layers at its top level
    (the authors' checkpoint keys are ``conv1``, ``layer1`` …, not ``backbone.conv1``).
    """
    x = owner.maxpool(owner.relu(owner.bn1(owner.conv1(images))))
    c2 = owner.layer1(x)
    c3 = owner.layer2(c2)
    c4 = owner.layer3(c3)
    c5 = owner.layer4(c4)
    c6 = owner.layer5(c5)  # no ReLU: the authors feed the raw conv output on
    c7 = owner.layer6(c6)
    return c2, c3, c4, c5, c6, c7


def freeze_stem(owner: nn.Module) -> None:
    """The authors train with ``conv1``/``bn1`` fixed at their ImageNet values."""
    for name in STEM:
        for p in getattr(owner, name).parameters():
            p.requires_grad_(False)


def keep_stem_frozen(owner: nn.Module) -> None:
    """Call after ``train(mode)``: the stem BN keeps its running statistics (eval mode) always."""
    for name in STEM:
        getattr(owner, name).eval()


def _listing(title: str, items: list[str], limit: int = 20) -> str:
    more = f"\n    … and {len(items) - limit} more" if len(items) > limit else ""
    return f"  {title} ({len(items)}):\n" + "\n".join(f"    {k}" for k in items[:limit]) + more


def load_imagenet_weights(backbone: nn.Module, state_dict: dict[str, Tensor]) -> list[str]:
    """Copy a torchvision ResNet ImageNet state dict into ``conv1``/``bn1``/``layer1``–``layer4``.

    ``backbone`` is a ``ResNetTrunk`` or an SRN (same key names). The classifier (``fc.*``) is
    ignored; ``num_batches_tracked`` may be absent (older checkpoints such as the
    ``resnet50-19c8e357.pth`` the authors start from lack it). Anything else must match exactly:
    otherwise a ``ValueError`` lists the missing, unexpected and shape-mismatched keys and nothing
    is copied. ``layer5``/``layer6``, the FPN and the head keep their initial values. Returns the
    copied keys.
    """
    own = {k: v for k, v in backbone.state_dict().items() if k.split(".", 1)[0] in IMAGENET_PARTS}
    given = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    missing = sorted(k for k in own if k not in given and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in given if k not in own)
    mismatched = sorted(
        f"{k}: expected {tuple(own[k].shape)}, got {tuple(given[k].shape)}"
        for k in own.keys() & given.keys()
        if own[k].shape != given[k].shape
    )
    if missing or unexpected or mismatched:
        name = getattr(backbone, "name", None) or getattr(getattr(backbone, "config", None), "backbone", "?")
        parts = [_listing(t, v) for t, v in (("missing", missing), ("unexpected", unexpected),
                                             ("shape mismatch", mismatched)) if v]
        raise ValueError(f"state dict does not fit the {name} trunk (is it the right ResNet depth?):\n"
                         + "\n".join(parts))
    for k, v in given.items():
        own[k].copy_(v)  # state_dict() tensors share storage with the parameters and buffers
    return sorted(given)
