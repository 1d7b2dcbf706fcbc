"""Devices a fine-tuning run can use, and how long it will take on them.

The dialog shows an estimate before anything starts: measured from earlier runs of the project
on the same host, device and model (stored with each run's metrics), scaled from another image
size, or a rough default, and the text says which.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass

from app.store.project import Project
from app.store.training import training_runs


def device_choices() -> list[tuple[str, str]]:
    """``(value, label)`` of the devices here: auto, cpu and each CUDA GPU."""
    import torch

    out = [("auto", "Automatic (best available)"), ("cpu", f"CPU ({os.cpu_count()} cores)")]
    if torch.cuda.is_available():
        out += [(f"cuda:{i}", f"cuda:{i} — {torch.cuda.get_device_name(i)}") for i in range(torch.cuda.device_count())]
    return out


def resolve_device(device: str) -> tuple[str, str, int]:
    """``(device for srn train, name for throughput records, processes)``.

    ``auto``/``cuda`` with several GPUs means one DDP process per GPU.
    """
    import torch

    from srn.engine.device import pick_device

    dev = pick_device(None if device in (None, "auto") else device)
    if dev.type == "cuda":
        count = torch.cuda.device_count()
        if dev.index is None and count > 1:
            return "cuda", f"{count}x {torch.cuda.get_device_name(0)}", count
        index = dev.index or 0
        return f"cuda:{index}", torch.cuda.get_device_name(index), 1
    if dev.type == "cpu":
        return "cpu", f"cpu {os.cpu_count()} cores", 1
    return str(dev), str(dev), 1


def throughput_key(device_name: str, backbone: str, channels: int) -> dict:
    return {"host": platform.node(), "device_name": device_name, "backbone": backbone, "channels": channels}


ROUGH_IMAGES_PER_S = {"cpu": {"resnet18": 1.2, "resnet50": 0.4, "resnet101": 0.25},
                      "cuda": {"resnet18": 60.0, "resnet50": 25.0, "resnet101": 16.0}}
"""Images/s at 256 px (CPU: per 2 cores) used when no run has been measured: a rough guess
(measured on the 2-core development machine for CPU ResNet-50; the rest scaled by FLOPs)."""
ROUGH_BY_MODEL = {("cpu", "resnet18", 64): 5.2}
"""Images/s at 256 px on 2 CPU cores of a specific model: the demo model's architecture, the
median of its training log (``tools/train_demo_model.py``, batch 8), so fine-tuning the demo
model is estimated from what it really costs rather than from a ResNet-18 with a full-width head."""
STARTUP_S = 15.0


@dataclass(frozen=True)
class Estimate:
    seconds: float
    images_per_s: float
    source: str
    """``"measured"`` (earlier runs, same device and size), ``"scaled"`` (earlier runs at
    another size) or ``"rough"`` (no earlier run: a rough default)."""
    text: str


def estimate_seconds(project: Project | None, *, iterations: int, batch_size: int, size: int, device: str = "auto",
                     backbone: str = "resnet50", channels: int = 256, val_images: int = 0) -> Estimate:
    """How long a run will take, from the images/s of earlier runs on this device.

    Earlier runs on the same host, device and model at the same image size give a measured
    speed; at another size their speed is scaled by the pixel count; without any, a rough
    default (``ROUGH_IMAGES_PER_S``). The text says which.
    """
    resolved, device_name, procs = resolve_device(device)
    key = throughput_key(device_name, backbone, channels)
    same, other = [], []
    for run in training_runs(project) if project is not None else []:
        t = run.metrics.get("throughput")
        if not isinstance(t, dict) or not t.get("images_per_s") or any(t.get(k) != v for k, v in key.items()):
            continue
        (same if t.get("size") == size else other).append(t)
    if same:
        ips = sorted(t["images_per_s"] for t in same)[len(same) // 2]
        source, how = "measured", f"measured in {len(same)} earlier run(s) on this device at {size} px"
    elif other:
        t = other[0]
        ips = t["images_per_s"] * (t["size"] / size) ** 2
        source, how = "scaled", f"scaled from an earlier run on this device at {t['size']} px"
    else:
        kind = "cuda" if resolved.startswith("cuda") else "cpu"
        rough = ROUGH_BY_MODEL.get((kind, backbone, channels)) or ROUGH_IMAGES_PER_S[kind].get(backbone, 0.4)
        ips = rough * (256 / size) ** 2
        ips *= (os.cpu_count() or 2) / 2 if kind == "cpu" else procs
        source, how = "rough", "rough guess: no earlier run on this device to measure from"
    seconds = STARTUP_S + iterations * batch_size / max(ips, 1e-6) + val_images * 2 * batch_size / max(ips, 1e-6)
    return Estimate(seconds, ips, source, f"about {format_duration(seconds)} ({how})")


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    minutes = seconds / 60
    if minutes < 1:
        return f"{round(seconds)} s"
    if minutes < 90:
        return f"{round(minutes)} min"
    return f"{minutes / 60:.1f} h"


__all__ = ["Estimate", "device_choices", "estimate_seconds", "format_duration", "resolve_device", "throughput_key"]
