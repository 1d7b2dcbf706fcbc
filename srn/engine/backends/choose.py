"""Resolve ``backend=`` and ``precision=`` (either may be ``"auto"``) into a running backend.

``auto`` backend: OpenVINO on the CPU when it loads (one log line and torch otherwise), torch on
a GPU. ``auto`` precision: torch fp32; on OpenVINO the fastest precision this CPU runs (int8 with
NNCF, bf16 where native) whose detections pass the agreement check (``agreement``) against the
torch fp32 reference on a few images, else fp32 — which itself must agree with torch, or torch
runs. The choice and its measurements are stored beside the compiled model, so the check runs
once per (weights, OpenVINO version, CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from srn.engine.backends import BACKEND_CHOICES, PRECISION_CHOICES, InferenceBackend
from srn.engine.backends.agreement import agreement
from srn.engine.backends.compile_cache import CompileCache, weights_digest
from srn.engine.backends.torch_backend import AUTOCAST, TorchBackend
from srn.engine.postprocess import Detections
from srn.model.srn_net import SRN

CHECK_IMAGES = 2  # images the agreement check runs on when none are given
CALIBRATION_IMAGES = 8
TORCH_FALLBACK = "torch-fp32"  # the stored choice when OpenVINO fp32 itself disagreed


@dataclass
class Choice:
    """Which backend and precision run, and why (shown in the Detect tab and by ``srn detect``)."""

    backend: str
    precision: str
    reason: str = ""
    checks: dict[str, dict] = field(default_factory=dict)  # precision → Agreement.to_json() or {"skipped": why}

    def describe(self) -> str:
        return f"{self.backend} {self.precision}" + (f" ({self.reason})" if self.reason else "")


def default_check_images(n: int = CHECK_IMAGES) -> list[np.ndarray]:
    """Synthetic 1080×720 scenes like the sample project's (a seed nothing trains on)."""
    from srn.data.synth import make_sample
    from srn.eval.synthetic import NIGHT_SET

    return [make_sample(seed=9001, index=i, config=NIGHT_SET).day for i in range(n)]


def images_from_files(paths: Iterable[Path], enhance=None, n: int = 4) -> list[np.ndarray]:
    """The first ``n`` readable images of ``paths`` as the network will see them (uint8 RGB,
    enhanced by ``enhance`` parameters if given): what ``precision="auto"`` checks and int8
    calibrates on. Unreadable or too small files are left out: the run reports them itself."""
    from srn.enhance import enhance as enhance_image
    from srn.imageio import as_rgb8, read_image

    images: list[np.ndarray] = []
    for path in paths:
        if len(images) == n:
            break
        try:
            image = as_rgb8(read_image(path), path)
        except Exception:  # noqa: BLE001 - any unreadable file: skipped here, reported by the run
            continue
        if min(image.shape[:2]) >= 2:
            images.append(enhance_image(image, enhance) if enhance is not None else image)
    return images


def build_backend(
    model: SRN,
    device: torch.device,
    backend: str = "torch",
    precision: str = "fp32",
    *,
    detect: Callable[[InferenceBackend, list[np.ndarray]], list[Detections]],
    channels_last: bool = True,
    cache: CompileCache | None = None,
    sample_images: Sequence[np.ndarray] | Callable[[], Sequence[np.ndarray]] | None = None,
    hint: str = "LATENCY",
    log: Callable[[str], None] = lambda text: None,
) -> tuple[InferenceBackend, Choice]:
    """The backend to run, and the choice made. ``detect(backend, images)`` is the single-scale
    detection the agreement check compares; ``sample_images`` (or a function giving them, called
    only when they are needed) are the images it and int8 calibration use, else
    ``default_check_images()``."""
    if backend not in BACKEND_CHOICES:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_CHOICES)}, got {backend!r}")
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, got {precision!r}")

    def torch_backend(reason: str = "") -> tuple[InferenceBackend, Choice]:
        p = "fp32" if precision == "auto" else precision
        if p not in AUTOCAST:
            raise ValueError(f"{p} runs on OpenVINO only; the torch backend runs {', '.join(AUTOCAST)}")
        return TorchBackend(model, device, p, channels_last), Choice("torch", p, reason)

    if device.type != "cpu":
        if backend == "openvino":
            raise ValueError(f"OpenVINO runs on the CPU, not on {device}: use device='cpu', or the torch backend")
        return torch_backend()
    if backend == "torch":
        return torch_backend()
    from srn.engine.backends import openvino_backend as ovb

    try:
        ovb.load_openvino()
    except ovb.BackendUnavailable as exc:
        if backend == "openvino":
            raise ValueError(str(exc)) from exc
        log(f"{exc}: detecting with torch instead")
        return torch_backend("openvino cannot load")
    if precision == "fp16":
        if backend == "auto":
            return torch_backend()  # fp16 is the torch backend's, and needs a GPU: it says so
        raise ValueError("OpenVINO on the CPU runs fp32, bf16 or int8, not fp16")
    cache = cache or CompileCache()
    digest = weights_digest(model)

    def compiled(p: str, calibration=None) -> ovb.OpenVINOBackend:
        return ovb.OpenVINOBackend(model, p, cache=cache, hint=hint, calibration=calibration, digest=digest,
                                   progress=log)

    def samples(n: int) -> list[np.ndarray]:
        given = sample_images() if callable(sample_images) else sample_images
        return list(given) if given else default_check_images(n)

    if precision != "auto":
        if precision == "int8" and cache.ir_path(digest, "int8", ovb.openvino_version()) is None:
            return compiled("int8", calibration=samples(CALIBRATION_IMAGES)), Choice("openvino", "int8", "asked for")
        return compiled(precision), Choice("openvino", precision, "asked for")

    version, machine = ovb.openvino_version(), ovb.machine_key()
    stored = cache.read_choice(digest, version, machine)
    if stored and stored["precision"] == TORCH_FALLBACK:
        return torch_backend(stored.get("reason", ""))
    if stored and stored["precision"] in ovb.available_precisions():
        return compiled(stored["precision"]), Choice("openvino", stored["precision"], stored.get("reason", ""),
                                                     stored.get("checks", {}))

    images = samples(CHECK_IMAGES)
    check = images[:max(1, min(CHECK_IMAGES, len(images) // 2))]
    calibration = images[len(check):] or check
    log(f"checking which precision keeps the boxes on {len(check)} images")
    reference = detect(TorchBackend(model, device, "fp32", channels_last), check)
    checks: dict[str, dict] = {}
    for p in ("int8", "bf16"):
        reason = ovb.why_unavailable(p)
        if reason:
            checks[p] = {"skipped": reason}
    chosen: ovb.OpenVINOBackend | None = None
    for p in ovb.available_precisions():  # fastest first, fp32 last
        candidate = compiled(p, calibration=calibration if p == "int8" else None)
        result = agreement(reference, detect(candidate, check))
        checks[p] = result.to_json()
        log(f"{p}: {result.describe()}")
        if result.passed:
            chosen = candidate
            break
    if chosen is None:
        reason = "OpenVINO fp32 disagreed with torch on these weights"
        cache.write_choice(digest, version, machine, {"precision": TORCH_FALLBACK, "reason": reason, "checks": checks})
        return torch_backend(reason)
    reason = _reason(chosen.precision, checks)
    cache.write_choice(digest, version, machine, {"precision": chosen.precision, "reason": reason, "checks": checks})
    return chosen, Choice("openvino", chosen.precision, reason, checks)


def _reason(chosen: str, checks: dict[str, dict]) -> str:
    """Why ``chosen`` won, in words: which faster precisions failed their check or do not run here."""
    failed = [p for p, c in checks.items() if p != chosen and c.get("passed") is False]
    skipped = [c["skipped"] for c in checks.values() if "skipped" in c]
    parts = [f"{', '.join(failed)} moved the boxes"] if failed else []
    if chosen == "fp32" and skipped:
        parts.append("; ".join(skipped))
    head = "the fastest precision that keeps the boxes" if chosen != "fp32" else "fp32"
    return head + (": " + "; ".join(parts) if parts else "")
