"""Synthetic night-face data: the project's stand-in for WIDER FACE (day) and DARK FACE (night).

Real datasets cannot be downloaded everywhere the project runs (CI, air-gapped workstations), so
tests, benchmarks and the demo use scenes composed from real pixels that scikit-image ships:
real face crops pasted onto real photos, with non-face crops as distractors, then degraded to
night by a physically motivated camera model (``srn.data.lowlight``).

Every image is a pure function of ``(seed, index)``: image 7 of a 10-image set equals image 7 of
a 1000-image set with the same seed, and generation can resume or run in parallel.

Output layout of ``write_dataset(out, ...)``::

    out/day/<id>.png          clean composite (WIDER FACE-like)
    out/night/<id>.png        the same scene at night (DARK FACE-like)
    out/label/<id>.txt        DARK FACE labels, shared by day and night (ids 1..n)
    out/wider_face_gt.txt     WIDER FACE ground truth; names are "<id>.png", relative to day/ or night/
    out/synth.json            seed, parameters and per-image statistics

Boxes are inclusive integer pixel extents ``x1 y1 x2 y2`` and always lie inside the image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from srn import __version__
from srn.data import sources
from srn.data.lowlight import LowLightParams, degrade, params_dict
from srn.fileio import atomic_write_bytes, atomic_write_text
from srn.formats import darkface, wider

GT_FILE = "wider_face_gt.txt"
MANIFEST_FILE = "synth.json"


class Cancelled(Exception):
    """Raised by ``write_dataset`` when its ``cancel`` callback asks it to stop."""


@dataclass(frozen=True)
class SynthConfig:
    """What a synthetic scene may contain. Defaults keep CPU training cheap (640×427)."""

    width: int = 640
    height: int = 427
    faces: tuple[int, int] = (1, 12)  # faces per image, inclusive
    face_height: tuple[float, float] = (12.0, 120.0)  # pasted face height in px, log-uniform
    face_aspect: tuple[float, float] = (1.1, 1.4)  # height / width
    max_rotation: float = 12.0  # degrees, either way
    max_blur_sigma: float = 1.2
    brightness: tuple[float, float] = (0.55, 1.3)  # face brightness factor
    distractors: tuple[int, int] = (0, 4)  # non-face crops per image, inclusive
    max_face_iou: float = 0.1  # faces overlap each other at most this much
    lowlight: LowLightParams = field(default_factory=LowLightParams)

    def __post_init__(self) -> None:
        if self.width < 32 or self.height < 32:
            raise ValueError(f"image size must be at least 32×32, got {self.width}×{self.height}")
        if not 1 <= self.faces[0] <= self.faces[1]:
            raise ValueError(f"faces must satisfy 1 <= low <= high, got {self.faces}")
        if not 4 <= self.face_height[0] <= self.face_height[1]:
            raise ValueError(f"face_height must satisfy 4 <= low <= high, got {self.face_height}")
        if not 0 <= self.distractors[0] <= self.distractors[1]:
            raise ValueError(f"distractors must satisfy 0 <= low <= high, got {self.distractors}")

    def to_dict(self) -> dict:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "lowlight"}
        d["lowlight"] = params_dict(self.lowlight)
        return d


@dataclass
class SynthSample:
    """One generated scene: day and night RGB images sharing the same faces."""

    index: int
    day: np.ndarray  # (H, W, 3) uint8 RGB
    night: np.ndarray  # (H, W, 3) uint8 RGB
    boxes: np.ndarray  # (K, 4) int64 inclusive x1 y1 x2 y2
    blur: np.ndarray  # (K,) int64 WIDER blur level 0/1/2
    info: dict


# ---------------------------------------------------------------------------------------------
# Scene composition


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random crop of a random shipped photo, flipped and resized to ``width × height``."""
    photos = sources.backgrounds()
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    target_aspect = width / height
    # The largest crop with the target aspect, then a random fraction of it.
    max_w = min(pw, ph * target_aspect)
    scale = rng.uniform(0.45, 1.0)
    cw = max(8, int(max_w * scale))
    ch = max(8, min(ph, int(round(cw / target_aspect))))
    x0 = int(rng.integers(0, pw - cw + 1))
    y0 = int(rng.integers(0, ph - ch + 1))
    crop = photo[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    out = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if np.allclose(photo[..., 0], photo[..., 1]):  # grey photo: give it a random colour temperature
        out *= np.exp(rng.normal(0.0, 0.08, size=3)).astype(np.float32)
    return out


def _skin_tint(rng: np.random.Generator) -> np.ndarray:
    """An RGB multiplier between a light and a dark skin tone (max channel 1)."""
    light = np.array([1.0, 0.80, 0.68], dtype=np.float32)
    dark = np.array([1.0, 0.70, 0.52], dtype=np.float32)
    t = np.float32(rng.random())
    return light * (1 - t) + dark * t


def _patch(
    rng: np.random.Generator, crop: np.ndarray, height: int, width: int, tint: np.ndarray, config: SynthConfig
) -> tuple[np.ndarray, np.ndarray, float]:
    """A pasted crop: (h, w, 3) colour patch, (h, w) soft elliptical alpha, and the blur sigma used."""
    grey = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC)
    colour = np.clip(grey, 0, 1)[:, :, None] * tint[None, None, :] * 255.0
    colour *= np.float32(rng.uniform(*config.brightness))
    # Soft ellipse: faces are not rectangles, and hard edges would be a trivial cue.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ny = (yy + 0.5 - height / 2) / (height / 2)
    nx = (xx + 0.5 - width / 2) / (width / 2)
    alpha = np.clip((1.0 - np.sqrt(nx * nx + ny * ny)) * min(height, width) / 3.0 + 0.5, 0.0, 1.0)
    angle = float(rng.uniform(-config.max_rotation, config.max_rotation))
    if abs(angle) > 0.5:
        diag = int(np.ceil(np.hypot(height, width)))
        pad_y, pad_x = (diag - height) // 2 + 1, (diag - width) // 2 + 1
        colour = cv2.copyMakeBorder(colour, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
        alpha = cv2.copyMakeBorder(alpha, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
        h2, w2 = alpha.shape
        m = cv2.getRotationMatrix2D((w2 / 2, h2 / 2), angle, 1.0)
        colour = cv2.warpAffine(colour, m, (w2, h2), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(alpha, m, (w2, h2), flags=cv2.INTER_LINEAR)
        ys, xs = np.nonzero(alpha > 0.01)
        colour = colour[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        alpha = alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    sigma = float(rng.uniform(0.0, config.max_blur_sigma))
    if sigma > 0.3:
        colour = cv2.GaussianBlur(colour, (0, 0), sigma)
    return colour.astype(np.float32), alpha.astype(np.float32), sigma


def _iou(box: np.ndarray, others: list[np.ndarray]) -> float:
    """The largest "+1" IoU of ``box`` with any of ``others`` (0 with none)."""
    from srn.eval.matching import iou_matrix

    return float(iou_matrix(box[None], np.asarray(others)).max()) if others else 0.0


def _paste(canvas: np.ndarray, colour: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    h, w = alpha.shape
    region = canvas[y0 : y0 + h, x0 : x0 + w]
    a = alpha[:, :, None]
    region *= 1.0 - a
    region += colour * a


def make_sample(seed: int, index: int, config: SynthConfig | None = None) -> SynthSample:
    """Generate scene ``index`` of the dataset with ``seed`` (a pure function of both)."""
    config = config or SynthConfig()
    rng = np.random.default_rng([int(seed), int(index)])
    W, H = config.width, config.height
    canvas = _background(rng, W, H)

    max_h = min(config.face_height[1], 0.8 * H, 0.8 * W * config.face_aspect[0])
    min_h = min(config.face_height[0], max_h)

    def sized(kind_rng: np.random.Generator) -> tuple[int, int]:
        h = float(np.exp(kind_rng.uniform(np.log(min_h), np.log(max_h))))
        w = h / kind_rng.uniform(*config.face_aspect)
        return max(4, int(round(h))), max(3, int(round(w)))

    nonfaces = sources.nonface_crops()
    for _ in range(int(rng.integers(config.distractors[0], config.distractors[1] + 1))):
        h, w = sized(rng)
        tint = np.exp(rng.normal(0.0, 0.15, size=3)).astype(np.float32)
        tint /= tint.max()
        colour, alpha, _ = _patch(rng, nonfaces[int(rng.integers(len(nonfaces)))], h, w, tint, config)
        ah, aw = alpha.shape
        if ah <= H and aw <= W:
            _paste(canvas, colour, alpha, int(rng.integers(0, W - aw + 1)), int(rng.integers(0, H - ah + 1)))

    faces = sources.face_crops()
    boxes: list[np.ndarray] = []
    blur: list[int] = []
    wanted = int(rng.integers(config.faces[0], config.faces[1] + 1))
    for _attempt in range(wanted * 20):
        if len(boxes) == wanted:
            break
        h, w = sized(rng)
        colour, alpha, sigma = _patch(rng, faces[int(rng.integers(len(faces)))], h, w, _skin_tint(rng), config)
        ah, aw = alpha.shape
        if ah > H or aw > W:
            continue
        x0, y0 = int(rng.integers(0, W - aw + 1)), int(rng.integers(0, H - ah + 1))
        ys, xs = np.nonzero(alpha >= 0.5)
        box = np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max(), y0 + ys.max()], dtype=np.int64)
        if _iou(box, boxes) > config.max_face_iou:
            continue
        _paste(canvas, colour, alpha, x0, y0)
        boxes.append(box)
        blur.append(0 if sigma < 0.5 else (1 if sigma < 0.9 else 2))

    day = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    night, info = degrade(day, rng, config.lowlight)
    return SynthSample(
        index=index,
        day=day,
        night=night,
        boxes=np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
        blur=np.asarray(blur, dtype=np.int64),
        info=info,
    )


# ---------------------------------------------------------------------------------------------
# Writing a dataset


def _png(image_rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 array
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def wider_record(sample: SynthSample) -> wider.WiderRecord:
    """The WIDER FACE ground-truth record of a sample (image name ``<id>.png``)."""
    attributes = np.zeros((len(sample.boxes), len(wider.ATTRIBUTES)), dtype=np.int64)
    attributes[:, wider.ATTRIBUTES.index("blur")] = sample.blur
    return wider.WiderRecord(name=f"{sample.index}.png", boxes=wider.xyxy_to_xywh(sample.boxes), attributes=attributes)


def write_dataset(
    out: str | os.PathLike[str],
    n: int,
    seed: int,
    config: SynthConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Generate ``n`` scenes (ids 1..n) into ``out`` (layout in the module docstring); returns ``out``.

    Every file is written atomically; ``synth.json`` is written last, so a folder without it is
    an interrupted run. ``progress(done, n)`` is called after each image; when ``cancel()``
    returns true, ``Cancelled`` is raised before the next image.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    config = config or SynthConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[wider.WiderRecord] = []
    images: list[dict] = []
    for index in range(1, n + 1):
        if cancel is not None and cancel():
            raise Cancelled(f"cancelled after {index - 1} of {n} images")
        sample = make_sample(seed, index, config)
        atomic_write_bytes(out / "day" / f"{index}.png", _png(sample.day))
        atomic_write_bytes(out / "night" / f"{index}.png", _png(sample.night))
        darkface.write_label(out / "label" / f"{index}.txt", sample.boxes)
        records.append(wider_record(sample))
        images.append({"id": index, "faces": len(sample.boxes), **sample.info})
        if progress is not None:
            progress(index, n)
    wider.write_gt(out / GT_FILE, records)
    manifest = {
        "generator": f"srn.data.synth {__version__}",
        "seed": seed,
        "n": n,
        "config": config.to_dict(),
        "images": images,
    }
    atomic_write_text(out / MANIFEST_FILE, json.dumps(manifest, indent=1) + "\n")
    return out
