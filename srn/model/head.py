"""The detection head SRN shares between both steps and all six levels.

One classification subnet and one regression subnet, each 3×3 conv – ReLU – RFE – 3×3 conv – ReLU
(keys ``cls_subnet.0``, ``cls_subnet.2.*`` for the RFE, ``cls_subnet.3``), then 1×1 predictors:
``cls_subnet_pred`` (A logits, one class: face) and ``box_subnet_pred`` (A×4 deltas). Sharing the
weights across steps is what the authors do: the first step sees the 1×1-projected backbone maps
C2–C7, the second the FPN maps P2–P7, through the very same convolutions.

The predictors' outputs are flattened in the order of ``srn.model.outputs``: (N, A·C, H, W) →
(N, H, W, A, C) → (N, H·W·A, C), i.e. index ``(y·W + x)·A + a`` — the authors'
``permute(0, 2, 3, 1).view(B, K·A, C)``. Channel ``a·4 + c`` of the box predictor is coordinate
``c`` of anchor ``a``.

The classification bias starts at −log((1 − π)/π) with prior π = 0.01, i.e. −log 99 (the focal-loss
prior the authors' ``init_bias`` applies for ``sigmoid_focal_loss``): every anchor begins at a
face probability of 0.01, so the background does not swamp the first training iterations.

``predict_level`` is a function of the module that *owns* the four layers rather than a method,
because the SRN owns them at its top level (the authors' checkpoint keys have no ``head.`` prefix);
``SharedHead`` is the same head as a stand-alone module.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import Tensor, nn

from srn.model.rfe import RFE

if TYPE_CHECKING:
    from srn.model.srn_net import SRN

CLASS_PRIOR = 0.01  # the authors' init_prior: initial face probability of every anchor
NUM_CLASSES = 1  # face (sigmoid focal loss: no background channel)


def make_subnet(channels: int) -> nn.Sequential:
    """3×3 conv – ReLU – RFE – 3×3 conv – ReLU, the authors' ``cls_subnet`` / ``box_subnet``."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        RFE(channels, channels),
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
    )


def prior_bias() -> float:
    """−log((1 − π)/π) for the prior π = CLASS_PRIOR, i.e. −log 99."""
    return -math.log((1.0 - CLASS_PRIOR) / CLASS_PRIOR)


def flatten_predictions(pred: Tensor, per_anchor: int) -> Tensor:
    """(N, A·C, H, W) → (N, H·W·A, C): cell-major, anchor-minor (the output contract's order)."""
    return pred.permute(0, 2, 3, 1).reshape(pred.shape[0], -1, per_anchor)


def predict_level(owner: SharedHead | SRN, feature: Tensor, *, cls: bool = True,
                  box: bool = True) -> tuple[Tensor | None, Tensor | None]:
    """Run the classification and/or regression branch of ``owner``'s head on one feature map.

    ``owner`` is any module holding ``cls_subnet``, ``box_subnet``, ``cls_subnet_pred`` and
    ``box_subnet_pred`` (a ``SharedHead`` or the SRN). Returns ``(cls, box)``: logits (N, H·W·A) and
    deltas (N, H·W·A, 4), or ``None`` for a branch not asked for (and not computed).
    """
    cls_out = box_out = None
    if cls:
        logits = owner.cls_subnet_pred(owner.cls_subnet(feature))
        cls_out = flatten_predictions(logits, NUM_CLASSES).squeeze(-1)
    if box:
        deltas = owner.box_subnet_pred(owner.box_subnet(feature))
        box_out = flatten_predictions(deltas, 4)
    return cls_out, box_out


class SharedHead(nn.Module):
    """The head as a stand-alone module (the SRN adopts its four layers at top level)."""

    def __init__(self, channels: int = 256, num_anchors: int = 2) -> None:
        super().__init__()
        self.num_anchors = num_anchors
        self.cls_subnet = make_subnet(channels)
        self.box_subnet = make_subnet(channels)
        self.cls_subnet_pred = nn.Conv2d(channels, num_anchors * NUM_CLASSES, kernel_size=1)
        self.box_subnet_pred = nn.Conv2d(channels, num_anchors * 4, kernel_size=1)
        assert self.cls_subnet_pred.bias is not None  # a Conv2d built with bias=True
        nn.init.constant_(self.cls_subnet_pred.bias, prior_bias())

    def forward(self, feature: Tensor, cls: bool = True, box: bool = True) -> tuple[Tensor | None, Tensor | None]:
        return predict_level(self, feature, cls=cls, box=box)
