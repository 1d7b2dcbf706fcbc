"""SRN, the Selective Refinement Network (Chi et al., AAAI 2019), as the authors' released model.

Two feature pyramids go through one shared head (``srn.model.head``):

* first step: 1×1 convs ``c2_conv`` … ``c7_conv`` project the backbone maps C2–C7 to 256 channels;
* second step (FPN): 1×1 laterals ``c2_lateral`` … ``c5_lateral``, summed top-down, each sum
  upsampled bilinearly (``align_corners=True``) to the *exact* size of the next lateral, then 3×3
  ``p2_conv`` … ``p5_conv``. P6 = ``p6_conv`` (3×3, stride 2) on the C5 *lateral* (not on P5 or C5),
  P7 = ``p7_conv`` (3×3, stride 2) on P6 with no ReLU in between. No ReLU anywhere in the FPN.

Selective two-step classification uses the first-step scores only on P2–P4 (STC levels) and
selective two-step regression the first-step deltas only on P5–P7 (STR levels); the authors'
code computes every first-step output and throws the others away. ``compute="selective"``
(default) skips them — the same kept outputs, less work; ``compute="naive"`` computes everything,
as the authors do (kept for benchmarks).

Input sizes: any H, W. Level k (stride 2^k) has side ceil(S / 2^k) (see ``srn.model.backbone``).
When a side is not a multiple of 128 the top-down sizes stop being exact doubles (e.g. 45 → 23
at stride 16 → 32); the authors then resize the coarser sum to the lateral's size with
``align_corners=True`` bilinear interpolation (corner pixels aligned, a scale factor of
(h_fine − 1)/(h_coarse − 1) instead of 2), which is what happens here too. Anchors stay at
``cell · stride`` regardless.

Module names and registration order are the authors' (``ResNetSRN``), so their checkpoint loads
with ``load_state_dict`` after stripping its ``module.`` prefix; initialisation is theirs too:
every conv weight ~ N(0, 0.01²), conv biases at PyTorch's default, BN weight 1 / bias 0, and the
classification bias −log 99. ``srn.model.backbone.load_imagenet_weights`` then sets the ResNet.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from srn.model.backbone import TRUNK_MODULES, build_backbone, keep_stem_frozen, trunk_features
from srn.model.config import SRNConfig
from srn.model.head import SharedHead, predict_level, prior_bias
from srn.model.outputs import LevelOutput, SRNOutput

COMPUTE_MODES = ("selective", "naive")
INIT_STD = 0.01
NETWORK_STRIDES = (4, 8, 16, 32, 64, 128)  # fixed by the architecture (C2 .. C7)


def upsample_add(coarse: Tensor, lateral: Tensor) -> Tensor:
    """The authors' ``_upsample_add``: resize to the lateral's exact size (align_corners) and add."""
    return F.interpolate(coarse, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class SRN(nn.Module):
    """Backbone + first-step projections + FPN + shared head; ``forward`` → ``SRNOutput``."""

    # Registered with add_module in __init__ (the authors' names and order): the trunk's ...
    conv1: nn.Conv2d
    bn1: nn.BatchNorm2d
    relu: nn.ReLU
    maxpool: nn.MaxPool2d
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential
    layer5: nn.Conv2d
    layer6: nn.Conv2d
    # ... the first-step projections and the FPN's 3×3 convs ...
    c2_conv: nn.Conv2d
    c3_conv: nn.Conv2d
    c4_conv: nn.Conv2d
    c5_conv: nn.Conv2d
    c6_conv: nn.Conv2d
    c7_conv: nn.Conv2d
    p2_conv: nn.Conv2d
    p3_conv: nn.Conv2d
    p4_conv: nn.Conv2d
    p5_conv: nn.Conv2d
    # ... and the shared head's.
    cls_subnet: nn.Sequential
    box_subnet: nn.Sequential
    cls_subnet_pred: nn.Conv2d
    box_subnet_pred: nn.Conv2d

    def __init__(self, config: SRNConfig = SRNConfig()) -> None:
        super().__init__()
        if tuple(config.strides) != NETWORK_STRIDES:
            raise ValueError(f"the SRN network has strides {NETWORK_STRIDES} (C2..C7), config says {config.strides}")
        self.config = config
        width = config.channels
        # The trunk's and the head's layers are registered here, at top level, under the
        # authors' names; the forward code lives with them (trunk_features, predict_level).
        trunk = build_backbone(config.backbone)
        for name in TRUNK_MODULES:
            self.add_module(name, getattr(trunk, name))
        self.backbone_channels = trunk.channels  # C2 .. C7
        c2, c3, c4, c5, c6, c7 = self.backbone_channels
        self.c5_lateral = nn.Conv2d(c5, width, kernel_size=1)
        self.c4_lateral = nn.Conv2d(c4, width, kernel_size=1)
        self.c3_lateral = nn.Conv2d(c3, width, kernel_size=1)
        self.c2_lateral = nn.Conv2d(c2, width, kernel_size=1)
        self.p7_conv = nn.Conv2d(width, width, kernel_size=3, stride=2, padding=1)
        self.p6_conv = nn.Conv2d(width, width, kernel_size=3, stride=2, padding=1)
        for k in (5, 4, 3, 2):
            self.add_module(f"p{k}_conv", nn.Conv2d(width, width, kernel_size=3, padding=1))
        for k, cin in zip((7, 6, 5, 4, 3, 2), (c7, c6, c5, c4, c3, c2)):
            self.add_module(f"c{k}_conv", nn.Conv2d(cin, width, kernel_size=1))
        head = SharedHead(width, config.anchors_per_cell)
        for name in ("cls_subnet", "box_subnet", "cls_subnet_pred", "box_subnet_pred"):
            self.add_module(name, getattr(head, name))
        self.num_anchors = config.anchors_per_cell
        self._init_like_authors()

    def _init_like_authors(self) -> None:
        """``ResNetSRN.__init__``: all conv weights N(0, 0.01²), BN 1/0, then the class prior bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, INIT_STD)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        assert self.cls_subnet_pred.bias is not None  # a Conv2d built with bias=True
        nn.init.constant_(self.cls_subnet_pred.bias, prior_bias())

    def train(self, mode: bool = True) -> SRN:
        super().train(mode)
        keep_stem_frozen(self)  # as the authors' ResNetSRN.train
        return self

    def first_step_features(self, c: tuple[Tensor, ...], levels: set[int]) -> list[Tensor | None]:
        """``c{k}_conv``(Ck) for the requested levels (0 = C2 … 5 = C7), None elsewhere."""
        convs = (self.c2_conv, self.c3_conv, self.c4_conv, self.c5_conv, self.c6_conv, self.c7_conv)
        return [conv(x) if i in levels else None for i, (conv, x) in enumerate(zip(convs, c))]

    def second_step_features(self, c: tuple[Tensor, ...]) -> list[Tensor]:
        """P2 … P7 (the authors' FPN: P6 from the C5 lateral, P7 from P6, no ReLUs)."""
        c2, c3, c4, c5 = c[:4]
        lat5 = self.c5_lateral(c5)
        p5 = self.p5_conv(lat5)
        p6 = self.p6_conv(lat5)
        p7 = self.p7_conv(p6)
        sum4 = upsample_add(lat5, self.c4_lateral(c4))
        sum3 = upsample_add(sum4, self.c3_lateral(c3))
        sum2 = upsample_add(sum3, self.c2_lateral(c2))
        return [self.p2_conv(sum2), self.p3_conv(sum3), self.p4_conv(sum4), p5, p6, p7]

    def forward(self, images: Tensor, compute: str = "selective") -> SRNOutput:
        """Raw per-level predictions for normalised images (N, 3, H, W); see ``srn.model.outputs``."""
        if compute not in COMPUTE_MODES:
            raise ValueError(f"compute must be one of {', '.join(COMPUTE_MODES)}, got {compute!r}")
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
        naive = compute == "naive"
        n_levels = len(self.config.strides)
        cls1_levels = set(range(n_levels)) if naive else set(self.config.stc_levels)
        box1_levels = set(range(n_levels)) if naive else set(self.config.str_levels)

        c = trunk_features(self, images)
        first = self.first_step_features(c, cls1_levels | box1_levels)
        second = self.second_step_features(c)

        levels = []
        for i, (f, p, stride) in enumerate(zip(first, second, self.config.strides)):
            cls1, box1 = (None, None)
            if f is not None:
                cls1, box1 = predict_level(self, f, cls=i in cls1_levels, box=i in box1_levels)
            cls2, box2 = predict_level(self, p)
            assert cls2 is not None and box2 is not None  # both branches were asked for
            levels.append(LevelOutput(cls2=cls2, box2=box2, cls1=cls1, box1=box1, size=(p.shape[-2], p.shape[-1]),
                                      stride=stride))
        return SRNOutput(levels=levels)
