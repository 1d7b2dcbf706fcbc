"""The detector users call: load a model, feed images, get face boxes.

``Detector`` owns the network, its anchors and the inference settings, and runs the authors'
test-time semantics (``srn.engine.postprocess``) on whatever device is best here. Two modes:

* ``"single"``: one pass at the image's own size (the app's default; images of equal size are
  batched together); boxes are clipped to the image, as the authors' test script does after
  voting;
* ``"multiscale"``: the authors' released multi-scale test (original, flip, 0.5×, upscales by
  1.5^t within a ``max_size²`` pixel budget plus one pass at the budget — or, for images above
  the budget, budget size, its flip, 0.75× and 0.5× of it), merged by box voting.

An optional enhancement (``srn.enhance`` parameters, e.g. MSRCR) runs before the network: with
numpy on CPU, with the batched torch implementation on the detector's device otherwise.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from srn.engine import postprocess
from srn.engine.checkpoint import (
    CheckpointMetadata,
    apply_state_dict,
    read_checkpoint_file,
    split_checkpoint,
    srn_config_of,
)
from srn.engine.device import describe, pick_device
from srn.engine.postprocess import Detections
from srn.model.anchors import all_anchors
from srn.model.config import IMAGENET_MEAN, IMAGENET_STD, InferenceConfig, SRNConfig
from srn.model.srn_net import SRN

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class FileResult:
    """One file of a streaming run: its detections, or the error that stopped it."""

    path: Path
    detections: Detections | None
    error: str | None = None
    size: tuple[int, int] | None = None  # (height, width)


class Detector:
    """An SRN model ready for inference on one device."""

    def __init__(
        self,
        model: SRN,
        device: str | torch.device | None = None,
        inference: InferenceConfig | None = None,
        precision: str = "fp32",
        channels_last: bool = True,
        metadata: CheckpointMetadata | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.device = pick_device(device)
        if precision == "fp16" and self.device.type == "cpu":
            raise ValueError("fp16 inference needs a GPU; use bf16 or fp32 on the CPU")
        self.config: SRNConfig = model.config
        self.inference = inference or InferenceConfig()
        self.precision = precision
        self.channels_last = channels_last
        self.metadata = metadata or CheckpointMetadata()
        self.compute = "selective"  # "naive": every subnet on every level, as the authors' code
        self.model = model.to(self.device).eval()
        self.set_channels_last(channels_last)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0
        self._anchors: dict[tuple, list[torch.Tensor]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device=None, *, nonfinite: str = "warn",
                        **options) -> Detector:
        """Load the authors' ``SRN.pth`` or a project checkpoint (its SRN config comes along).

        NaN or infinite weights give a ``NonFiniteWeightsWarning``, or with ``nonfinite="error"``
        a ``CheckpointError`` (the window has no use for such a model).
        """
        state, metadata = split_checkpoint(read_checkpoint_file(path), path)  # read once (SRN.pth: ~200 MB)
        model = SRN(srn_config_of(metadata, path))
        apply_state_dict(model, state, path, nonfinite=nonfinite)
        return cls(model, device=device, metadata=metadata, **options)

    def set_channels_last(self, enabled: bool) -> None:
        """NHWC memory format: the fast layout for oneDNN (CPU) and tensor cores (CUDA); it
        changes the order of floating-point sums, so results match NCHW to ~1e-5, not bitwise."""
        self.channels_last = enabled
        fmt = torch.channels_last if enabled else torch.contiguous_format
        self.model = self.model.to(memory_format=fmt)

    @property
    def device_name(self) -> str:
        return describe(self.device)

    # ------------------------------------------------------------------ core
    def _to_tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 RGB (H, W, 3) images of one size -> normalised (N, 3, H, W) on the device."""
        batch = torch.from_numpy(np.stack(images)).to(self.device, non_blocking=True)
        batch = batch.permute(0, 3, 1, 2).float()
        return (batch - self._mean) / self._std

    def _anchors_for(self, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        key = tuple(sizes)
        if key not in self._anchors:
            self._anchors[key] = all_anchors(sizes, self.config, device=self.device)
        return self._anchors[key]

    @torch.inference_mode()
    def _forward(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One pass over equally sized uint8 RGB images."""
        # The HWC → CHW permute leaves NHWC strides; make the layout the one asked for (a
        # channels_last input makes every conv after it run channels_last, whatever the weights).
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        batch = self._to_tensor(images).contiguous(memory_format=fmt)
        dtype = PRECISIONS[self.precision]
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            output = self.model(batch, compute=self.compute)
        output.to_float32()  # post-processing always in float32
        anchors = self._anchors_for([level.size for level in output.levels])
        h, w = images[0].shape[:2]
        return postprocess.detect_boxes(output, anchors, self.inference, [(h, w)] * len(images), config=self.config)

    def _enhanced(self, images: list[np.ndarray], enhance) -> list[np.ndarray]:
        if enhance is None:
            return images
        from srn.enhance import enhance as enhance_image

        device = None if self.device.type == "cpu" else self.device
        return [enhance_image(image, enhance, device=device) for image in images]

    def detect(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        enhance=None,
        mode: str = "single",
        max_size: int = 1400,
        batch_size: int = 4,
    ) -> list[Detections]:
        """Faces in each image (uint8 RGB (H, W, 3)); boxes are x1 y1 x2 y2 in input pixels."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        images = [_check_image(image, i) for i, image in enumerate(images)]
        images = self._enhanced(list(images), enhance)
        if mode == "multiscale":
            return [self._multiscale(image, max_size) for image in images]
        if mode != "single":
            raise ValueError(f"mode must be 'single' or 'multiscale', got {mode!r}")
        results: list[Detections | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            by_size.setdefault(image.shape[:2], []).append(i)
        for indices in by_size.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                for i, det in zip(chunk, self._forward([images[i] for i in chunk])):
                    results[i] = postprocess.clip_detections(det, *images[i].shape[:2])
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------ multi-scale test
    def _pass(self, image: np.ndarray, scale: float = 1.0, flip: bool = False) -> Detections:
        """One resized (and maybe flipped) pass, boxes mapped back to the unscaled image."""
        if scale != 1.0:
            image = cv2.resize(image, (0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        if flip:
            image = np.ascontiguousarray(image[:, ::-1])
        det = self._forward([image])[0]
        boxes = det.boxes
        if flip:
            boxes = postprocess.flip_boxes(boxes, image.shape[1])
        if scale != 1.0:
            boxes = postprocess.scale_boxes(boxes, scale)
        return Detections(boxes=boxes, scores=det.scores, levels=det.levels)

    def _multiscale(self, image: np.ndarray, max_size: int) -> Detections:
        h, w = image.shape[:2]
        budget = float(max_size) * float(max_size)
        parts: list[Detections] = []
        if h * w < budget:
            parts.append(self._pass(image))
            parts.append(self._pass(image, flip=True))
            parts.append(postprocess.filter_by_size(self._pass(image, 0.5), min_size=30))
            enlarge = int(math.floor(math.log(budget / w / h, 2.25)))
            big = [self._pass(image, math.pow(1.5, t + 1)) for t in range(enlarge)]
            big.append(self._pass(image, math.sqrt(budget / h / w)))
            parts.append(postprocess.filter_by_size(postprocess.concat(big), max_size=100))
        else:
            ratio = math.sqrt(budget / w / h)
            largest = cv2.resize(image, (0, 0), fx=ratio, fy=ratio, interpolation=cv2.INTER_LINEAR)
            rescale = lambda d, s: Detections(postprocess.scale_boxes(d.boxes, s), d.scores, d.levels)  # noqa: E731
            parts.append(rescale(self._pass(largest), ratio))
            parts.append(rescale(self._pass(largest, flip=True), ratio))
            small = postprocess.concat([
                rescale(self._pass(largest, 0.75), ratio),
                rescale(self._pass(largest, 0.5), ratio),
            ])
            parts.append(postprocess.filter_by_size(small, min_size=30))
        return postprocess.vote_detections(parts, h, w, self.inference)

    # ------------------------------------------------------------------ streaming over files
    def detect_files(
        self,
        paths: Iterable[str | os.PathLike[str]],
        enhance=None,
        mode: str = "single",
        max_size: int = 1400,
        prefetch: int = 4,
        workers: int = 2,
    ) -> Iterator[FileResult]:
        """Detect over many files in order; decoding runs on CPU threads ahead of the model
        (at most ``prefetch`` images in memory). A file that fails (unreadable, too small, over the
        pixel limit, or the network fails on it) yields a result with ``error`` naming it; the
        others go on."""
        from srn.imageio import ImageReadError, as_rgb8, read_image

        def load(path: Path) -> np.ndarray:
            image = as_rgb8(read_image(path), path)
            if image.shape[0] < 2 or image.shape[1] < 2:
                raise ValueError(f"{path}: too small to detect in ({image.shape[1]}×{image.shape[0]} pixels)")
            return image

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            pending: list[tuple[Path, Future]] = []
            iterator = iter(Path(p) for p in paths)
            exhausted = False
            while pending or not exhausted:
                while not exhausted and len(pending) < max(1, prefetch):
                    try:
                        path = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append((path, pool.submit(load, path)))
                if not pending:
                    break
                path, future = pending.pop(0)
                try:
                    image = future.result()
                except (ImageReadError, ValueError) as exc:
                    yield FileResult(path, None, str(exc))
                    continue
                try:
                    detections = self.detect([image], enhance=enhance, mode=mode, max_size=max_size)[0]
                except (ValueError, RuntimeError, MemoryError) as exc:  # one image, not the whole run
                    yield FileResult(path, None, f"{path}: {exc}")
                    continue
                yield FileResult(path, detections, None, image.shape[:2])


def _check_image(image: np.ndarray, index: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image {index}: expected uint8 RGB of shape (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image {index}: too small ({image.shape[1]}×{image.shape[0]})")
    return np.ascontiguousarray(image)
