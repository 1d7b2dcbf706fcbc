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

What runs the network is a backend (``srn.engine.backends``): torch by default here, OpenVINO
on the CPU when asked for or picked by ``backend="auto"``; post-processing is the same for all.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from srn.engine import postprocess
from srn.engine.backends import InferenceBackend
from srn.engine.backends.choose import build_backend
from srn.engine.backends.compile_cache import CompileCache
from srn.engine.backends.torch_backend import TorchBackend
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
from srn.model.box_geometry import flip_boxes, scale_boxes
from srn.model.config import InferenceConfig, SRNConfig
from srn.model.outputs import SRNOutput
from srn.model.srn_net import SRN


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
        *,
        backend: str = "torch",
        cache_dir: str | os.PathLike[str] | None = None,
        sample_images: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]] | None = None,
        hint: str = "LATENCY",
        log: Callable[[str], None] | None = None,
    ) -> None:
        """``backend`` ``torch`` / ``openvino`` / ``auto`` and ``precision`` ``fp32`` / ``fp16`` /
        ``bf16`` / ``int8`` / ``auto`` (``srn.engine.backends.choose``); ``sample_images`` (uint8
        RGB, or a function giving them when needed) are what the auto check and int8
        calibration run on; ``cache_dir`` is where compiled models are kept (default: the data
        folder's ``compiled``); ``hint`` is OpenVINO's ``LATENCY`` (one image at a time) or
        ``THROUGHPUT`` (batch jobs); ``log`` hears the slow first-time steps and any fallback."""
        self.device = pick_device(device)
        self.config: SRNConfig = model.config
        self.inference = inference or InferenceConfig()
        self.metadata = metadata or CheckpointMetadata()
        self.model = model
        self._anchors: dict[tuple, list[torch.Tensor]] = {}
        self.backend, self.choice = build_backend(
            model, self.device, backend, precision, detect=self._detect_with, channels_last=channels_last,
            cache=CompileCache(cache_dir) if cache_dir is not None else None, sample_images=sample_images,
            hint=hint, log=log or (lambda text: None))
        self.precision = self.choice.precision

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

    def _torch(self, what: str) -> TorchBackend:
        if not isinstance(self.backend, TorchBackend):
            raise ValueError(f"{what} is a setting of the torch backend; this detector runs {self.backend.describe()}")
        return self.backend

    def set_channels_last(self, enabled: bool) -> None:
        """NHWC (default) or NCHW memory format for the torch backend (see ``TorchBackend``)."""
        self._torch("channels_last").set_channels_last(enabled)

    @property
    def compute(self) -> str:
        """``"selective"`` (default) or ``"naive"`` (every subnet on every level: benchmarks only)."""
        return self.backend.compute if isinstance(self.backend, TorchBackend) else "selective"

    @compute.setter
    def compute(self, value: str) -> None:
        self._torch("compute").compute = value

    @property
    def device_name(self) -> str:
        """The device and what runs on it, e.g. ``"CPU (8 threads) · openvino fp32"``."""
        return f"{describe(self.device)} · {self.backend.describe()}"

    # ------------------------------------------------------------------ core
    def _anchors_for(self, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        key = tuple(sizes)
        if key not in self._anchors:
            self._anchors[key] = all_anchors(sizes, self.config, device=self.device)
        return self._anchors[key]

    def _decode(self, output: SRNOutput, images: Sequence[np.ndarray]) -> list[Detections]:
        anchors = self._anchors_for([level.size for level in output.levels])
        h, w = images[0].shape[:2]
        return postprocess.detect_boxes(output, anchors, self.inference, [(h, w)] * len(images), config=self.config)

    def _clipped(self, output: SRNOutput, images: Sequence[np.ndarray]) -> list[Detections]:
        """Single-scale detections of equally sized ``images`` from the network's ``output``."""
        detections = self._decode(output, images)
        return [postprocess.clip_detections(det, *image.shape[:2]) for det, image in zip(detections, images)]

    def _forward(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One pass over equally sized uint8 RGB images (unclipped: multi-scale clips after voting)."""
        return self._decode(self.backend.run(list(images)), images)

    def _detect_with(self, backend: InferenceBackend, images: list[np.ndarray]) -> list[Detections]:
        """Single-scale detections of each image by ``backend`` (the agreement check's measure)."""
        return [self._clipped(backend.run([image]), [image])[0] for image in images]

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
                batch = [images[i] for i in chunk]
                for i, det in zip(chunk, self._clipped(self.backend.run(batch), batch)):
                    results[i] = det
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
            boxes = flip_boxes(boxes, image.shape[1])
        if scale != 1.0:
            boxes = scale_boxes(boxes, scale)
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
            rescale = lambda d, s: Detections(scale_boxes(d.boxes, s), d.scores, d.levels)  # noqa: E731
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
        """Detect over many files in order. Decoding (and, on the CPU, enhancement) runs on
        threads ahead of the network, at most ``prefetch`` images in memory; an OpenVINO backend
        compiled with the ``THROUGHPUT`` hint keeps several images in flight. A file that fails
        (unreadable, too small, over the pixel limit, or the network fails on it) yields a result
        with ``error`` naming it; the others go on."""
        from srn.imageio import as_rgb8, read_image

        enhance_early = enhance is not None and self.device.type == "cpu"

        def load(path: Path) -> np.ndarray:
            image = as_rgb8(read_image(path), path)
            if image.shape[0] < 2 or image.shape[1] < 2:
                raise ValueError(f"{path}: too small to detect in ({image.shape[1]}×{image.shape[0]} pixels)")
            return self._enhanced([image], enhance)[0] if enhance_early else image

        late_enhance = None if enhance_early else enhance
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            loaded = _prefetched(pool, load, (Path(p) for p in paths), max(1, prefetch))
            if mode == "single" and getattr(self.backend, "hint", None) == "THROUGHPUT" and late_enhance is None:
                yield from self._stream(loaded)
                return
            for path, image, error in loaded:
                if image is None:
                    yield FileResult(path, None, error)
                    continue
                try:
                    detections = self.detect([image], enhance=late_enhance, mode=mode, max_size=max_size)[0]
                except (ValueError, RuntimeError, MemoryError) as exc:  # one image, not the whole run
                    yield FileResult(path, None, f"{path}: {exc}")
                    continue
                yield FileResult(path, detections, None, image.shape[:2])

    def _stream(self, loaded: Iterator[tuple[Path, np.ndarray | None, str | None]]) -> Iterator[FileResult]:
        """Single-scale detection with several OpenVINO infer requests in flight."""
        items = (((path, image, error), None if image is None else _check_image(image, 0)[None])
                 for path, image, error in loaded)
        for (path, image, error), output in self.backend.run_many(items):  # type: ignore[attr-defined]
            if error is not None or image is None:
                yield FileResult(path, None, error)
            elif isinstance(output, Exception) or output is None:
                yield FileResult(path, None, f"{path}: {output}")
            else:
                yield FileResult(path, self._clipped(output, [image])[0], None, image.shape[:2])


def _prefetched(pool: ThreadPoolExecutor, load: Callable[[Path], np.ndarray], paths: Iterator[Path],
                ahead: int) -> Iterator[tuple[Path, np.ndarray | None, str | None]]:
    """(path, image, None) or (path, None, error) in order, ``ahead`` loads running at a time."""
    from srn.imageio import ImageReadError

    pending: list[tuple[Path, Future]] = []
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < ahead:
            try:
                path = next(paths)
            except StopIteration:
                exhausted = True
                break
            pending.append((path, pool.submit(load, path)))
        if not pending:
            break
        path, future = pending.pop(0)
        try:
            yield path, future.result(), None
        except (ImageReadError, ValueError, MemoryError) as exc:
            yield path, None, str(exc) or f"{path}: {type(exc).__name__}"


def _check_image(image: np.ndarray, index: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image {index}: expected uint8 RGB of shape (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image {index}: too small ({image.shape[1]}×{image.shape[0]})")
    return np.ascontiguousarray(image)
