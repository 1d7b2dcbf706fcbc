"""The SRN detector: backbone, FPN, two-step heads, anchors, box coding, losses."""

from srn.model.backbone import build_backbone
from srn.model.srn_net import SRN

__all__ = ["SRN", "build_backbone"]
