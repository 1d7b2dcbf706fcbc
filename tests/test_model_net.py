"""The SRN network: the authors' layer names and shapes, level sizes, the output order contract,
selective vs naive computation, and ImageNet weight loading (nothing is downloaded)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from srn.model import SRN, build_backbone
from srn.model.backbone import load_imagenet_weights
from srn.model.config import SRNConfig
from srn.model.head import SharedHead
from srn.model.rfe import RFE

STRIDES = (4, 8, 16, 32, 64, 128)
A = 2


def _spread(model: nn.Module, seed: int = 0) -> nn.Module:
    """Re-draw conv weights at He scale so outputs depend visibly on the input (the authors'
    N(0, 0.01²) makes every prediction nearly its bias, which would make comparisons weak)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(1.0 / fan_in))
    return model


@pytest.fixture(scope="module")
def r18() -> SRN:
    torch.manual_seed(0)
    return _spread(SRN(SRNConfig(backbone="resnet18"))).eval()


def _image(h: int, w: int, n: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


# --- sizes and shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "sizes"),
    [
        ((128, 128), [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]),
        ((96, 160), [(24, 40), (12, 20), (6, 10), (3, 5), (2, 3), (1, 2)]),
        # 1080×720-like odd sides: 136 → 34, 17, 9, 5, 3, 2 and 200 → 50, 25, 13, 7, 4, 2
        ((136, 200), [(34, 50), (17, 25), (9, 13), (5, 7), (3, 4), (2, 2)]),
        ((33, 47), [(9, 12), (5, 6), (3, 3), (2, 2), (1, 1), (1, 1)]),
    ],
)
def test_level_sizes_and_output_shapes(r18: SRN, hw, sizes):
    with torch.no_grad():
        out = r18(_image(*hw, n=2))
    assert [lv.size for lv in out.levels] == sizes
    assert [lv.size for lv in out.levels] == [(math.ceil(hw[0] / s), math.ceil(hw[1] / s)) for s in STRIDES]
    assert [lv.stride for lv in out.levels] == list(STRIDES)
    for i, lv in enumerate(out.levels):
        k = lv.size[0] * lv.size[1] * A
        assert lv.cls2.shape == (2, k) and lv.box2.shape == (2, k, 4)
        if i < 3:  # STC levels: first-step classification only
            assert lv.cls1.shape == (2, k) and lv.box1 is None
        else:  # STR levels: first-step regression only
            assert lv.cls1 is None and lv.box1.shape == (2, k, 4)


def _authors_keys(blocks=(3, 4, 6, 3)) -> list[str]:
    """The authors' ResNetSRN (ResNet-50) state-dict keys, written from their resnet_srn.py."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["conv1.weight", *(f"bn1.{b}" for b in bn)]
    for s, n in enumerate(blocks, start=1):
        for i in range(n):
            p = f"layer{s}.{i}"
            for j in (1, 2, 3):
                keys += [f"{p}.conv{j}.weight", *(f"{p}.bn{j}.{b}" for b in bn)]
            if i == 0:
                keys += [f"{p}.downsample.0.weight", *(f"{p}.downsample.1.{b}" for b in bn)]
    conv = lambda name: [f"{name}.weight", f"{name}.bias"]  # noqa: E731
    keys += conv("layer5") + conv("layer6")
    for k in (5, 4, 3, 2):
        keys += conv(f"c{k}_lateral")
    for k in (7, 6, 5, 4, 3, 2):
        keys += conv(f"p{k}_conv")
    for k in (7, 6, 5, 4, 3, 2):
        keys += conv(f"c{k}_conv")
    for sub in ("cls_subnet", "box_subnet"):
        keys += conv(f"{sub}.0")
        for b in range(4):
            for j in (0, 2, 4):
                keys += conv(f"{sub}.2.branch{b}.{j}")
        keys += conv(f"{sub}.2.cated_conv.0") + conv(f"{sub}.3")
    return keys + conv("cls_subnet_pred") + conv("box_subnet_pred")


def test_resnet50_state_dict_has_exactly_the_authors_keys_and_shapes():
    model = SRN().eval()
    sd = model.state_dict()
    expected = _authors_keys()
    assert set(sd) == set(expected)
    top = lambda keys: list(dict.fromkeys(k.split(".")[0] for k in keys))  # noqa: E731
    assert top(sd) == top(expected)  # same registration order as the authors' modules
    shapes = {
        "layer5.weight": (1024, 2048, 3, 3),
        "layer5.bias": (1024,),
        "layer6.weight": (256, 1024, 3, 3),
        "layer6.bias": (256,),
        "c5_lateral.weight": (256, 2048, 1, 1),
        "c2_lateral.weight": (256, 256, 1, 1),
        "c6_conv.weight": (256, 1024, 1, 1),
        "c7_conv.weight": (256, 256, 1, 1),
        "p6_conv.weight": (256, 256, 3, 3),
        "p7_conv.weight": (256, 256, 3, 3),
        "cls_subnet.0.weight": (256, 256, 3, 3),
        "cls_subnet.2.branch0.0.weight": (64, 256, 1, 1),
        "cls_subnet.2.branch0.2.weight": (64, 64, 1, 5),
        "cls_subnet.2.branch1.2.weight": (64, 64, 5, 1),
        "cls_subnet.2.branch2.2.weight": (64, 64, 1, 3),
        "box_subnet.2.branch3.2.weight": (64, 64, 3, 1),
        "cls_subnet.2.branch3.4.weight": (64, 64, 1, 1),
        "cls_subnet.2.cated_conv.0.weight": (256, 256, 1, 1),
        "cls_subnet_pred.weight": (2, 256, 1, 1),
        "box_subnet_pred.weight": (8, 256, 1, 1),
        "box_subnet_pred.bias": (8,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    with torch.no_grad():
        out = model(_image(128, 128))
    assert [lv.size for lv in out.levels] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]


def test_backbone_channels_and_layer5_layer6_are_bare_biased_convs():
    assert build_backbone("resnet50").channels == (256, 512, 1024, 2048, 1024, 256)
    assert build_backbone("resnet101").channels == (256, 512, 1024, 2048, 1024, 256)
    r18 = build_backbone("resnet18")
    assert r18.channels == (64, 128, 256, 512, 256, 64)
    for layer in (r18.layer5, r18.layer6):
        assert type(layer) is nn.Conv2d and layer.bias is not None and layer.stride == (2, 2)
    feats = r18.eval()(_image(64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 16, 24), (128, 8, 12), (256, 4, 6), (512, 2, 3), (256, 1, 2),
                                                   (64, 1, 1)]
    assert (feats[4] < 0).any()  # no ReLU after layer5
    with pytest.raises(ValueError, match="backbone"):
        build_backbone("vgg16")


# --- selective vs naive ------------------------------------------------------------------------


def test_selective_equals_naive_where_both_compute(r18: SRN):
    x = _image(96, 160)
    with torch.no_grad():
        sel = r18(x, compute="selective")
        nai = r18(x, compute="naive")
    for i, (s, n) in enumerate(zip(sel.levels, nai.levels)):
        assert s.size == n.size and s.stride == n.stride
        assert torch.equal(s.cls2, n.cls2) and torch.equal(s.box2, n.box2)
        assert n.cls1 is not None and n.box1 is not None
        if i in (0, 1, 2):
            assert torch.equal(s.cls1, n.cls1) and s.box1 is None
        else:
            assert torch.equal(s.box1, n.box1) and s.cls1 is None
    # the two steps really are different inputs to the shared head
    assert not torch.allclose(nai.levels[0].cls1, nai.levels[0].cls2)
    with pytest.raises(ValueError, match="compute"):
        r18(x, compute="fast")


# --- output order contract ---------------------------------------------------------------------


def test_flattened_order_is_cell_major_anchor_minor(r18: SRN):
    raw = {"cls": [], "box": []}
    hooks = [
        r18.cls_subnet_pred.register_forward_hook(lambda m, i, o: raw["cls"].append(o.detach().clone())),
        r18.box_subnet_pred.register_forward_hook(lambda m, i, o: raw["box"].append(o.detach().clone())),
    ]
    try:
        with torch.no_grad():
            out = r18(_image(96, 160, n=2))
    finally:
        for h in hooks:
            h.remove()

    def cls_matches(r: torch.Tensor, flat: torch.Tensor, w: int) -> bool:
        n, a_, hh, ww = r.shape
        return all(
            flat[b, (y * w + x) * A + a] == r[b, a, y, x]
            for b in range(n)
            for a in range(a_)
            for y in range(hh)
            for x in range(ww)
        )

    def box_matches(r: torch.Tensor, flat: torch.Tensor, w: int) -> bool:
        n, _, hh, ww = r.shape
        return all(
            flat[b, (y * w + x) * A + a, c] == r[b, a * 4 + c, y, x]
            for b in range(n)
            for a in range(A)
            for c in range(4)
            for y in range(hh)
            for x in range(ww)
        )

    for _i, lv in enumerate(out.levels[1:], start=1):  # P3..P7 keep the loops small
        h, w = lv.size
        same_size = [r for r in raw["cls"] if r.shape[-2:] == (h, w)]
        assert sum(cls_matches(r, lv.cls2, w) for r in same_size) == 1
        if lv.cls1 is not None:
            assert sum(cls_matches(r, lv.cls1, w) for r in same_size) == 1
        same_size = [r for r in raw["box"] if r.shape[-2:] == (h, w)]
        assert sum(box_matches(r, lv.box2, w) for r in same_size) == 1
        if lv.box1 is not None:
            assert sum(box_matches(r, lv.box1, w) for r in same_size) == 1


# --- initialisation and RFE --------------------------------------------------------------------


def test_authors_initialisation():
    torch.manual_seed(0)
    model = SRN(SRNConfig(backbone="resnet18"))
    assert torch.allclose(model.cls_subnet_pred.bias, torch.full((2,), -math.log(99.0)))
    assert torch.allclose(torch.sigmoid(model.cls_subnet_pred.bias), torch.full((2,), 0.01))
    assert SharedHead().cls_subnet_pred.bias.allclose(torch.full((2,), -math.log(99.0)))
    w = model.cls_subnet[0].weight
    assert abs(w.std().item() - 0.01) < 0.001 and abs(w.mean().item()) < 0.001
    assert abs(model.layer5.weight.std().item() - 0.01) < 0.001
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    # the stem is frozen and its BN stays in eval mode in training, as in the authors' ResNetSRN
    model.train()
    assert model.training and model.layer1.training and not model.bn1.training
    assert not any(p.requires_grad for p in (*model.conv1.parameters(), *model.bn1.parameters()))
    assert all(p.requires_grad for p in model.layer1.parameters())


def test_rfe_branches_and_residual():
    rfe = RFE(32, 32)
    kernels = [b[2].kernel_size for b in (rfe.branch0, rfe.branch1, rfe.branch2, rfe.branch3)]
    assert kernels == [(1, 5), (5, 1), (1, 3), (3, 1)]
    assert ([b[2].padding for b in (rfe.branch0, rfe.branch1, rfe.branch2, rfe.branch3)]
            == [(0, 2), (2, 0), (0, 1), (1, 0)])
    x = torch.randn(2, 32, 7, 9)
    y = rfe(x)
    assert y.shape == x.shape
    # reference computation from the definition: concat of branches, 1×1 + ReLU, plus the input
    cat = torch.cat([b(x) for b in (rfe.branch0, rfe.branch1, rfe.branch2, rfe.branch3)], 1)
    assert torch.allclose(y, torch.relu(rfe.cated_conv[0](cat)) + x, atol=1e-6)
    with torch.no_grad():
        for m in rfe.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.zero_()
                m.bias.zero_()
    assert torch.equal(rfe(x), x)  # all convs zero: the block is the identity (residual)


# --- batches, memory format, ImageNet weights ---------------------------------------------------


def test_batch_equals_single_images(r18: SRN):
    x = _image(72, 104, n=2)
    with torch.no_grad():
        batch = r18(x)
        singles = [r18(x[i : i + 1]) for i in range(2)]
    for i in range(2):
        for lb, ls in zip(batch.levels, singles[i].levels):
            for name in ("cls2", "box2", "cls1", "box1"):
                tb, ts = getattr(lb, name), getattr(ls, name)
                assert (tb is None) == (ts is None)
                if tb is not None:
                    torch.testing.assert_close(tb[i : i + 1], ts, atol=1e-5, rtol=1e-5)


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    model = _spread(SRN(SRNConfig(backbone="resnet18"))).eval()
    x = _image(80, 112)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(ref.levels, out.levels):
        for name in ("cls2", "box2", "cls1", "box1"):
            ta, tb = getattr(a, name), getattr(b, name)
            if ta is not None:
                torch.testing.assert_close(tb, ta, atol=1e-5, rtol=1e-4)


def test_load_imagenet_weights_from_torchvision_state_dict():
    torchvision = pytest.importorskip("torchvision")
    tv = torchvision.models.resnet18(weights=None).state_dict()  # built locally, nothing downloaded
    model = SRN(SRNConfig(backbone="resnet18"))
    before_l5 = model.layer5.weight.clone()
    loaded = load_imagenet_weights(model, tv)
    assert "fc.weight" not in loaded and "layer4.1.bn2.running_var" in loaded
    assert torch.equal(model.layer3[1].conv2.weight, tv["layer3.1.conv2.weight"])
    assert torch.equal(model.conv1.weight, tv["conv1.weight"])
    assert torch.equal(model.layer5.weight, before_l5)  # not part of ImageNet ResNet
    # the bare trunk takes the same dict; old checkpoints without num_batches_tracked are fine
    trunk = build_backbone("resnet18")
    load_imagenet_weights(trunk, {k: v for k, v in tv.items() if not k.endswith("num_batches_tracked")})
    assert torch.equal(trunk.layer1[0].bn1.running_mean, tv["layer1.0.bn1.running_mean"])

    bad = dict(tv)
    del bad["layer2.0.conv1.weight"]
    bad["layer9.conv.weight"] = torch.zeros(1)
    bad["layer1.0.conv2.weight"] = torch.zeros(64, 64, 1, 1)
    trunk = build_backbone("resnet18")
    conv1_before = trunk.conv1.weight.clone()
    with pytest.raises(ValueError) as err:
        load_imagenet_weights(trunk, bad)
    msg = str(err.value)
    assert "missing (1)" in msg and "layer2.0.conv1.weight" in msg
    assert "unexpected (1)" in msg and "layer9.conv.weight" in msg
    assert "shape mismatch (1)" in msg and "layer1.0.conv2.weight: expected (64, 64, 3, 3), got (64, 64, 1, 1)" in msg
    assert torch.equal(trunk.conv1.weight, conv1_before)  # nothing copied on error
    with pytest.raises(ValueError, match="unexpected"):  # a ResNet-50 dict into a ResNet-18 trunk
        load_imagenet_weights(trunk, torchvision.models.resnet50(weights=None).state_dict())
