"""Training augmentation (numpy/OpenCV): photometric distortion, expand, data-anchor-sampling
crop, horizontal flip, resize, and ``TrainTransform`` that chains them.

Every random function takes a ``np.random.Generator``: the same generator state gives the same
output. Images are RGB uint8 (H, W, 3).

Targets
    A target is a dict of numpy arrays: ``boxes`` (G, 4) float64, ``ignore`` (G,) bool,
    ``weights`` (G,) float32, ``hard_negatives`` (H, 4) float64 (any other keys pass through).
    Boxes are **inclusive** pixel extents ``x1 y1 x2 y2``: a box inside a W×H image has
    ``0 <= x1``, ``x2 <= W - 1``; its width is ``x2 - x1 + 1``.

Box mapping under scaling (the one convention used everywhere here)
    Pixel ``i`` covers the continuous interval ``[i, i + 1)``; a box is ``[x1, x2 + 1)``. Scaling
    by ``s`` and shifting by ``t`` maps the edge coordinate ``X -> s·X - t``, so

        x1' = s·x1 - t        x2' = s·(x2 + 1) - 1 - t

    Widths scale exactly (``w' = s·w``) and a box covering the whole image still covers the whole
    output. This is the mapping OpenCV's ``resize`` uses (pixel centres ``i + 0.5`` scale by ``s``),
    and ``warpAffine`` is given the matching matrix, so pixels follow boxes. Flip: ``x1' = W - 1 - x2``,
    ``x2' = W - 1 - x1``. Resize stretches to ``size × size`` (aspect not kept, as SSD/S3FD do).

Data-anchor-sampling crop (``random_crop``, after PyramidBox)
    Pick a non-ignored face at random; its size is ``sqrt(w·h)``. Find the nearest anchor size
    ``i`` (log distance) among ``anchor_sizes`` (default ``ANCHOR_SIZES`` = 16 .. 512), draw a
    target index uniformly from ``0 .. min(i + 1, last)``, and a target size
    ``anchor · exp(U(-log j, log j))`` with ``j = ANCHOR_JITTER`` (√2 ≈ 1.41: one half-octave either
    way). The image is rescaled so the face has the target size, and a ``size × size`` window
    containing the face (when it fits; otherwise inside the face) is cut at a random position;
    whatever of the window lies outside the image is filled with the ImageNet mean colour. Only the
    window is computed (a 50× upscale never materialises the whole image). Images without faces get a
    random window at a random scale (``size / max(H, W)`` times 1..2).

What happens to boxes at a crop border
    Faces whose centre is inside the window are kept and clipped to it. Faces cut by the border
    with the centre outside become ignore regions (clipped) rather than negatives; boxes with
    nothing inside are dropped. Ignore regions and hard negatives are kept (clipped) when they
    overlap the window. After every geometric step, faces narrower or lower than ``min_face``
    (default 2 px) become ignore regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from srn.data.samples import MIN_BOX_SIZE, tiny_boxes
from srn.model.config import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from srn.enhance.params import MethodParams

FILL = tuple(int(round(255 * m)) for m in IMAGENET_MEAN)  # (124, 116, 104): mean colour, uint8 RGB
ANCHOR_SIZES = (16, 32, 64, 128, 256, 512)
ANCHOR_JITTER = math.sqrt(2.0)
DEFAULT_SIZE = 1024

Target = dict


# ---------------------------------------------------------------------------------------------
# Targets


def make_target(boxes=None, ignore=None, weights=None, hard_negatives=None, **extra) -> Target:
    """A target dict with the standard keys, arrays in their canonical dtypes."""
    b = np.asarray(boxes if boxes is not None else np.zeros((0, 4)), dtype=np.float64).reshape(-1, 4)
    g = len(b)
    target = {
        "boxes": b,
        "ignore": np.zeros(g, bool) if ignore is None else np.asarray(ignore, dtype=bool).reshape(-1),
        "weights": np.ones(g, np.float32) if weights is None else np.asarray(weights, dtype=np.float32).reshape(-1),
        "hard_negatives": np.asarray(hard_negatives if hard_negatives is not None else np.zeros((0, 4)),
                                     dtype=np.float64).reshape(-1, 4),
    }
    target.update(extra)
    return target


def _select(target: Target, keep: np.ndarray, boxes: np.ndarray, ignore: np.ndarray, negatives: np.ndarray) -> Target:
    out = dict(target)
    out["boxes"] = boxes[keep]
    out["ignore"] = ignore[keep]
    out["weights"] = target["weights"][keep]
    out["hard_negatives"] = negatives
    return out


def map_boxes(boxes: np.ndarray, sx: float, sy: float, tx: float = 0.0, ty: float = 0.0) -> np.ndarray:
    """Inclusive boxes under ``X -> s·X - t`` (edge coordinates): ``x1' = sx·x1 - tx``,
    ``x2' = sx·(x2 + 1) - 1 - tx`` (see the module docstring)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 0] = b[:, 0] * sx - tx
    out[:, 1] = b[:, 1] * sy - ty
    out[:, 2] = (b[:, 2] + 1.0) * sx - 1.0 - tx
    out[:, 3] = (b[:, 3] + 1.0) * sy - 1.0 - ty
    return out


def _clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    out = boxes.copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0.0, width - 1.0)
    out[:, 1::2] = np.clip(out[:, 1::2], 0.0, height - 1.0)
    return out


def _overlaps(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes with a positive area inside the image (edge coordinates)."""
    return ((np.minimum(boxes[:, 2] + 1.0, width) > np.maximum(boxes[:, 0], 0.0))
            & (np.minimum(boxes[:, 3] + 1.0, height) > np.maximum(boxes[:, 1], 0.0)))


def fit_to_image(target: Target, width: int, height: int, min_face: float = MIN_BOX_SIZE) -> Target:
    """Apply the crop-border rules of the module docstring to a target whose boxes are already in
    the coordinates of a ``width × height`` image."""
    boxes, ignore = target["boxes"], target["ignore"].copy()
    centre_x = (boxes[:, 0] + boxes[:, 2] + 1.0) / 2.0
    centre_y = (boxes[:, 1] + boxes[:, 3] + 1.0) / 2.0
    inside = (centre_x >= 0) & (centre_x < width) & (centre_y >= 0) & (centre_y < height)
    overlap = _overlaps(boxes, width, height)
    ignore |= ~inside  # cut faces with their centre outside: ignore regions
    keep = overlap & (inside | ignore)
    clipped = _clip(boxes, width, height)
    ignore |= tiny_boxes(clipped, min_face)
    negatives = target["hard_negatives"]
    negatives = _clip(negatives[_overlaps(negatives, width, height)], width, height)
    return _select(target, keep, clipped, ignore, negatives)


# ---------------------------------------------------------------------------------------------
# Photometric


def photometric_distort(image: np.ndarray, rng: np.random.Generator, *, brightness: float = 32.0,
                        contrast: tuple[float, float] = (0.5, 1.5), saturation: tuple[float, float] = (0.5, 1.5),
                        hue: float = 18.0, p: float = 0.5) -> np.ndarray:
    """SSD-style colour jitter, each part with probability ``p``: brightness ``+U(-32, 32)``,
    contrast ``×U(0.5, 1.5)`` (before or after the HSV part, at random), saturation ``×U(0.5, 1.5)``,
    hue ``+U(-18°, 18°)``. RGB uint8 in and out; geometry unchanged."""
    img = image.astype(np.float32)
    contrast_first = rng.random() < 0.5

    def apply_contrast(x: np.ndarray) -> np.ndarray:
        if rng.random() < p:
            x = x * np.float32(rng.uniform(*contrast))
        return x

    if rng.random() < p:
        img = img + np.float32(rng.uniform(-brightness, brightness))
    if contrast_first:
        img = apply_contrast(img)
    do_sat, do_hue = rng.random() < p, rng.random() < p
    if do_sat or do_hue:
        hsv = cv2.cvtColor(np.clip(img, 0.0, 255.0) / np.float32(255.0), cv2.COLOR_RGB2HSV)  # H in [0, 360)
        if do_sat:
            hsv[..., 1] = np.clip(hsv[..., 1] * np.float32(rng.uniform(*saturation)), 0.0, 1.0)
        if do_hue:
            hsv[..., 0] = np.mod(hsv[..., 0] + np.float32(rng.uniform(-hue, hue)), 360.0)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * np.float32(255.0)
    if not contrast_first:
        img = apply_contrast(img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Geometry


def hflip(image: np.ndarray, target: Target) -> tuple[np.ndarray, Target]:
    """Mirror left-right: ``x1' = W - 1 - x2``, ``x2' = W - 1 - x1``."""
    width = image.shape[1]
    out = dict(target)
    for key in ("boxes", "hard_negatives"):
        b = target[key].copy()
        b[:, [0, 2]] = width - 1.0 - target[key][:, [2, 0]]
        out[key] = b
    return np.ascontiguousarray(image[:, ::-1]), out


def random_flip(image: np.ndarray, target: Target, rng: np.random.Generator,
                p: float = 0.5) -> tuple[np.ndarray, Target]:
    """``hflip`` with probability ``p``."""
    if rng.random() < p:
        return hflip(image, target)
    return image, target


def resize(image: np.ndarray, target: Target, size: int | tuple[int, int] = DEFAULT_SIZE,
           min_face: float = MIN_BOX_SIZE) -> tuple[np.ndarray, Target]:
    """Stretch to ``size × size`` (or ``(width, height)``); boxes by ``map_boxes`` with
    ``s = size / W`` (``/ H``). Faces that end up under ``min_face`` px become ignore regions."""
    out_w, out_h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    h, w = image.shape[:2]
    sx, sy = out_w / w, out_h / h
    if (out_w, out_h) != (w, h):
        interp = cv2.INTER_AREA if sx < 1 and sy < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (out_w, out_h), interpolation=interp)
    out = dict(target)
    out["boxes"] = map_boxes(target["boxes"], sx, sy)
    out["hard_negatives"] = map_boxes(target["hard_negatives"], sx, sy)
    out["ignore"] = target["ignore"] | tiny_boxes(out["boxes"], min_face)
    return image, out


def random_expand(image: np.ndarray, target: Target, rng: np.random.Generator, max_ratio: float = 4.0,
                  p: float = 0.5, fill: tuple[int, ...] = FILL) -> tuple[np.ndarray, Target]:
    """With probability ``p``, place the image at a random integer offset on a canvas
    ``U(1, max_ratio)`` times larger, filled with the mean colour (zooms out for small faces)."""
    if max_ratio <= 1 or rng.random() >= p:
        return image, target
    h, w = image.shape[:2]
    ratio = rng.uniform(1.0, max_ratio)
    ch, cw = int(round(h * ratio)), int(round(w * ratio))
    top, left = int(rng.integers(0, ch - h + 1)), int(rng.integers(0, cw - w + 1))
    canvas = np.empty((ch, cw, image.shape[2]), dtype=image.dtype)
    canvas[...] = np.asarray(fill, dtype=image.dtype)[: image.shape[2]]
    canvas[top: top + h, left: left + w] = image
    out = dict(target)
    out["boxes"] = map_boxes(target["boxes"], 1.0, 1.0, -left, -top)
    out["hard_negatives"] = map_boxes(target["hard_negatives"], 1.0, 1.0, -left, -top)
    return canvas, out


def scale_and_crop(image: np.ndarray, target: Target, scale: float, left: int, top: int, width: int, height: int,
                   fill: tuple[int, ...] = FILL, min_face: float = MIN_BOX_SIZE) -> tuple[np.ndarray, Target]:
    """Rescale by ``scale`` and cut the ``width × height`` window whose top-left corner is
    ``(left, top)`` in the rescaled image (outside the image: ``fill``). Only the window is computed.
    Boxes follow ``map_boxes`` and the crop-border rules (``fit_to_image``)."""
    h, w = image.shape[:2]
    if scale < 1.0:  # downscale the whole image first (anti-aliased); the window is then a pure shift
        nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        src = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / w, nh / h
        out = np.empty((height, width, image.shape[2]), dtype=image.dtype)
        out[...] = np.asarray(fill, dtype=image.dtype)[: image.shape[2]]
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + width, nw), min(top + height, nh)
        if x1 > x0 and y1 > y0:
            out[y0 - top: y1 - top, x0 - left: x1 - left] = src[y0:y1, x0:x1]
    else:
        sx = sy = float(scale)
        # pixel index u = s·x + (s - 1)/2 - t  <=>  edge coordinate X' = s·X - t
        m = np.array([[sx, 0.0, 0.5 * sx - 0.5 - left], [0.0, sy, 0.5 * sy - 0.5 - top]])
        out = cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(float(v) for v in fill))
    moved = dict(target)
    moved["boxes"] = map_boxes(target["boxes"], sx, sy, left, top)
    moved["hard_negatives"] = map_boxes(target["hard_negatives"], sx, sy, left, top)
    return out, fit_to_image(moved, width, height, min_face)


def choose_scale(face_size: float, rng: np.random.Generator, anchor_sizes=ANCHOR_SIZES,
                 jitter: float = ANCHOR_JITTER) -> float:
    """Data anchor sampling: the factor that gives a face of ``face_size`` px a randomly chosen
    anchor size (module docstring)."""
    anchors = np.asarray(anchor_sizes, dtype=np.float64)
    nearest = int(np.argmin(np.abs(np.log(anchors) - math.log(max(face_size, 1e-6)))))
    index = int(rng.integers(0, min(nearest + 1, len(anchors) - 1) + 1))
    target = anchors[index] * math.exp(rng.uniform(-math.log(jitter), math.log(jitter)))
    return target / max(face_size, 1e-6)


def _window_start(lo_face: float, hi_face: float, window: int, extent: float, rng: np.random.Generator) -> int:
    """A random integer window start so that [start, start + window) contains [lo_face, hi_face)
    when it fits (otherwise lies inside it and contains its centre), preferring positions that
    overlap the image [0, extent)."""
    if hi_face - lo_face <= window:  # window contains the face
        lo, hi = hi_face - window, lo_face
    else:  # window inside the face, containing its centre (so the face is kept)
        centre = (lo_face + hi_face) / 2.0
        lo, hi = max(lo_face, centre - window + 1e-6), min(hi_face - window, centre)
    img_lo, img_hi = min(0.0, extent - window), max(0.0, extent - window)
    if max(lo, img_lo) <= min(hi, img_hi):
        lo, hi = max(lo, img_lo), min(hi, img_hi)
    lo_i, hi_i = math.ceil(lo), math.floor(hi)
    if lo_i > hi_i:
        return int(round((lo + hi) / 2))
    return int(rng.integers(lo_i, hi_i + 1))


def random_crop(image: np.ndarray, target: Target, rng: np.random.Generator, size: int = DEFAULT_SIZE,
                anchor_sizes=ANCHOR_SIZES, jitter: float = ANCHOR_JITTER, fill: tuple[int, ...] = FILL,
                min_face: float = MIN_BOX_SIZE) -> tuple[np.ndarray, Target]:
    """Data-anchor-sampling crop to ``size × size`` (module docstring)."""
    h, w = image.shape[:2]
    faces = np.flatnonzero(~target["ignore"])
    if len(faces):
        box = target["boxes"][faces[int(rng.integers(len(faces)))]]
        fw, fh = box[2] - box[0] + 1.0, box[3] - box[1] + 1.0
        scale = choose_scale(math.sqrt(max(fw, 0.0) * max(fh, 0.0)), rng, anchor_sizes, jitter)
        fx1, fy1 = box[0] * scale, box[1] * scale
        fx2, fy2 = (box[2] + 1.0) * scale, (box[3] + 1.0) * scale
    else:
        scale = size / max(h, w) * math.exp(rng.uniform(0.0, math.log(2.0)))
        fx1 = fx2 = w * scale * rng.random()
        fy1 = fy2 = h * scale * rng.random()
    if scale < 1.0:  # the downscale path rounds the image size; place the window in those coordinates
        sx, sy = max(1, round(w * scale)) / w, max(1, round(h * scale)) / h
        fx1, fx2, fy1, fy2 = fx1 / scale * sx, fx2 / scale * sx, fy1 / scale * sy, fy2 / scale * sy
    else:
        sx = sy = scale
    left = _window_start(fx1, fx2, size, w * sx, rng)
    top = _window_start(fy1, fy2, size, h * sy, rng)
    return scale_and_crop(image, target, scale, left, top, size, size, fill, min_face)


# ---------------------------------------------------------------------------------------------
# Tensors and the training transform


def normalize(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float32 (3, H, W): ``(x / 255 - mean) / std`` (ImageNet), the
    detector's preprocessing."""
    x = image.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def denormalize(tensor: torch.Tensor) -> np.ndarray:
    """Inverse of ``normalize``: float (3, H, W) -> RGB uint8 (H, W, 3)."""
    x = tensor.detach().cpu().numpy().transpose(1, 2, 0)
    x = (x * np.asarray(IMAGENET_STD, np.float32) + np.asarray(IMAGENET_MEAN, np.float32)) * 255.0
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def to_tensors(image: np.ndarray, target: Target) -> tuple[torch.Tensor, dict]:
    """Normalised image tensor and a target of tensors: ``boxes`` float32 (G, 4), ``ignore`` bool (G,),
    ``weights`` float32 (G,), ``hard_negatives`` float32 (H, 4); other keys unchanged."""
    out = dict(target)
    out["boxes"] = torch.from_numpy(np.asarray(target["boxes"], dtype=np.float32).reshape(-1, 4).copy())
    out["ignore"] = torch.from_numpy(np.asarray(target["ignore"], dtype=bool).copy())
    out["weights"] = torch.from_numpy(np.asarray(target["weights"], dtype=np.float32).copy())
    out["hard_negatives"] = torch.from_numpy(
        np.asarray(target["hard_negatives"], dtype=np.float32).reshape(-1, 4).copy())
    return normalize(image), out


class TrainTransform:
    """Photometric distortion → expand → DAS crop → flip → resize → normalise.

    Called as ``transform(image, target)`` (RGB uint8, target dict) and returns ``(tensor, target)``
    as ``to_tensors``. ``enhance`` is an optional callable ``image -> image`` or ``srn.enhance``
    parameters, applied first and *not* cached (``FaceDataset`` has the cached per-sample
    enhancement). ``rng`` is the generator every random step draws from; ``reseed(seed)`` replaces
    it (data-loader workers call it, see ``srn.data.loader``).
    """

    def __init__(self, size: int = DEFAULT_SIZE, rng: np.random.Generator | int | None = None,
                 enhance: Callable[[np.ndarray], np.ndarray] | MethodParams | None = None, photometric: bool = True,
                 expand: bool = True, crop: bool = True, flip: bool = True, *, anchor_sizes=ANCHOR_SIZES,
                 jitter: float = ANCHOR_JITTER, max_expand: float = 4.0, min_face: float = MIN_BOX_SIZE) -> None:
        if size < 8:
            raise ValueError(f"training size must be at least 8 px, got {size}")
        self.size = int(size)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.enhance = enhance
        self.photometric, self.expand, self.crop, self.flip = photometric, expand, crop, flip
        self.anchor_sizes, self.jitter = tuple(anchor_sizes), float(jitter)
        self.max_expand, self.min_face = float(max_expand), float(min_face)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def _enhanced(self, image: np.ndarray) -> np.ndarray:
        if self.enhance is None:
            return image
        if callable(self.enhance):
            return self.enhance(image)
        from srn.enhance import enhance

        return enhance(image, self.enhance)

    def apply(self, image: np.ndarray, target: Target) -> tuple[np.ndarray, Target]:
        """The augmented uint8 image and numpy target (before normalisation)."""
        rng = self.rng
        target = make_target(**target)
        image = self._enhanced(image)
        if self.photometric:
            image = photometric_distort(image, rng)
        if self.expand:
            image, target = random_expand(image, target, rng, self.max_expand)
        if self.crop:
            image, target = random_crop(image, target, rng, self.size, self.anchor_sizes, self.jitter,
                                        min_face=self.min_face)
        if self.flip:
            image, target = random_flip(image, target, rng)
        image, target = resize(image, target, self.size, self.min_face)
        return image, fit_to_image(target, self.size, self.size, self.min_face)

    def __call__(self, image: np.ndarray, target: Target) -> tuple[torch.Tensor, dict]:
        return to_tensors(*self.apply(image, target))
