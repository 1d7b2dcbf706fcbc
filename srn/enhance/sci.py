"""SCI (Ma et al., CVPR 2022): a tiny learned illumination estimate ``L``, then ``R = I / L``.

At test time SCI is three 3×3 convolutions on 3 channels (about 250 numbers), trained without
paired data; the authors' weights ship in ``resources/enhance/sci/`` (MIT, see its README).
With ``I`` the RGB image in [0, 1]::

    f = relu(conv_in(I))
    f = f + relu(batchnorm(conv_block(f)))        # one residual block, BatchNorm in eval mode
    L = clamp(sigmoid(conv_out(f)) + I, 1e-4, 1)  # the illumination
    R = clamp(I / L, 0, 1)                        # the authors' output

``gamma`` (default 1: the authors' output) raises ``R`` to a power afterwards, for a darker or
brighter result. The numpy path convolves with OpenCV (``filter2D`` with zero borders, the same
cross-correlation as ``torch.nn.functional.conv2d(padding=1)``); ``torch_ops`` runs the same
network batched on the detection device.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from srn.enhance.image_input import to_float_rgb
from srn.enhance.params import MethodParams, ParamSpec, param

SCI_WEIGHTS = ("difficult", "medium", "easy")
"""The authors' released weights: ``difficult`` was trained mainly on DARK FACE (the default)."""
BN_EPS = 1e-5
"""``torch.nn.BatchNorm2d``'s default, which the authors' network uses."""
LAYERS = {"in": "enhance.in_conv.0", "block": "enhance.blocks.0.0", "bn": "enhance.blocks.0.1",
          "out": "enhance.out_conv.0"}


class SCIWeightsError(ValueError):
    """A weights file that is not the SCI illumination network (the message names the file)."""


@dataclass(frozen=True)
class SCIParams(MethodParams):
    """Self-calibrated illumination (SCI): a learned illumination map divides the image."""

    method = "sci"
    weights: str = param("difficult", ParamSpec(
        "weights", "Trained on", kind="choice", choices=SCI_WEIGHTS,
        help="the authors' weights: difficult = mainly DARK FACE, medium = LOL/LSRW, easy = MIT"))
    gamma: float = param(1.0, ParamSpec(
        "gamma", "Output gamma γ", minimum=0.2, maximum=3.0, log_scale=True,
        help="R^γ after the division; 1 is the authors' output, below 1 brighter"))


@dataclass(frozen=True)
class SCINetwork:
    """The test-time stage as float32 arrays: convolutions ``(out, in, 3, 3)`` and biases, and the
    eval-mode BatchNorm folded into a per-channel ``scale`` and ``shift``."""

    in_w: np.ndarray
    in_b: np.ndarray
    block_w: np.ndarray
    block_b: np.ndarray
    bn_scale: np.ndarray
    bn_shift: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray


def weights_file(name: str) -> Path:
    """The shipped weights file of ``name`` (one of ``SCI_WEIGHTS``)."""
    import darkface_resources

    if name not in SCI_WEIGHTS:
        raise SCIWeightsError(f"unknown SCI weights {name!r} (known: {', '.join(SCI_WEIGHTS)})")
    return darkface_resources.SCI_WEIGHTS / f"{name}.pt"


def read_network(path: Path) -> SCINetwork:
    """The illumination stage of an SCI ``state_dict`` file, loaded with ``weights_only=True``;
    every tensor the network needs is checked for its shape."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SCIWeightsError(f"{path}: the SCI weights are missing (reinstall DarkFace Studio)") from None
    except Exception as exc:  # noqa: BLE001 - pickle and zip errors of a damaged file
        raise SCIWeightsError(f"{path}: not a readable weights file ({exc})") from None
    if not isinstance(state, dict):
        raise SCIWeightsError(f"{path}: expected a state_dict, got {type(state).__name__}")

    def tensor(key: str, shape: tuple[int, ...]) -> np.ndarray:
        value = state.get(key)
        if value is None or tuple(value.shape) != shape:
            found = "missing" if value is None else f"shape {tuple(value.shape)}"
            raise SCIWeightsError(f"{path}: {key} must have shape {shape}, {found}")
        array = value.detach().to(torch.float64).numpy()
        if not np.isfinite(array).all():
            raise SCIWeightsError(f"{path}: {key} holds NaN or infinity")
        return array

    conv, vec = (3, 3, 3, 3), (3,)
    bn = LAYERS["bn"]
    var = tensor(f"{bn}.running_var", vec)
    if (var < 0).any():
        raise SCIWeightsError(f"{path}: {bn}.running_var is negative")
    scale = tensor(f"{bn}.weight", vec) / np.sqrt(var + BN_EPS)
    shift = tensor(f"{bn}.bias", vec) - tensor(f"{bn}.running_mean", vec) * scale
    f32 = np.float32
    return SCINetwork(
        in_w=tensor(f"{LAYERS['in']}.weight", conv).astype(f32), in_b=tensor(f"{LAYERS['in']}.bias", vec).astype(f32),
        block_w=tensor(f"{LAYERS['block']}.weight", conv).astype(f32),
        block_b=tensor(f"{LAYERS['block']}.bias", vec).astype(f32),
        bn_scale=scale.astype(f32), bn_shift=shift.astype(f32),
        out_w=tensor(f"{LAYERS['out']}.weight", conv).astype(f32),
        out_b=tensor(f"{LAYERS['out']}.bias", vec).astype(f32),
    )


@lru_cache(maxsize=len(SCI_WEIGHTS))
def network(name: str) -> SCINetwork:
    """The shipped network ``name``, read once per process."""
    return read_network(weights_file(name))


def _conv3x3(planes: list[np.ndarray], w: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """``conv2d(x, w, b, padding=1)`` of 3 contiguous float32 (H, W) planes: 9 OpenCV correlations
    (planes, not an interleaved image: OpenCV filters a contiguous plane twice as fast)."""
    out = []
    for o in range(w.shape[0]):
        acc = cv2.filter2D(planes[0], cv2.CV_32F, w[o, 0], delta=float(b[o]), borderType=cv2.BORDER_CONSTANT)
        for c in range(1, w.shape[1]):
            cv2.add(acc, cv2.filter2D(planes[c], cv2.CV_32F, w[o, c], borderType=cv2.BORDER_CONSTANT), dst=acc)
        out.append(acc)
    return out


def _illumination_planes(planes: list[np.ndarray], net: SCINetwork) -> list[np.ndarray]:
    f = [np.maximum(p, 0, out=p) for p in _conv3x3(planes, net.in_w, net.in_b)]
    for c, g in enumerate(_conv3x3(f, net.block_w, net.block_b)):
        g *= net.bn_scale[c]
        g += net.bn_shift[c]
        f[c] += np.maximum(g, 0, out=g)
    light = []
    for c, o in enumerate(_conv3x3(f, net.out_w, net.out_b)):
        o *= 0.5
        np.tanh(o, out=o)  # the logistic function as 0.5 + 0.5 tanh(x / 2): no exp() overflow
        o *= 0.5
        o += 0.5
        o += planes[c]
        light.append(np.clip(o, 1e-4, 1.0, out=o))
    return light


def sci(image: np.ndarray, p: SCIParams, max_pixels: int | None = None) -> np.ndarray:
    rgb = to_float_rgb(image, *([max_pixels] if max_pixels else []))
    planes = [np.ascontiguousarray(rgb[:, :, c], dtype=np.float32) * np.float32(1.0 / 255.0) for c in range(3)]
    out = []
    for plane, light in zip(planes, _illumination_planes(planes, network(p.weights))):
        r = np.clip(plane / light, 0.0, 1.0)
        if p.gamma != 1.0:
            r **= np.float32(p.gamma)
        r *= 255.0
        out.append(np.rint(r, out=r))
    return np.clip(cv2.merge(out), 0, 255).astype(np.uint8)
