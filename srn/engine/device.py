"""Choosing the compute device: CUDA when present, then Apple MPS, else CPU."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """A requested device that this machine does not have."""


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``requested`` if it exists here (clear error otherwise), else the best available device."""
    if requested is None or str(requested) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"unknown device {requested!r} (use cpu, cuda, cuda:N or mps)") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {requested!r} (use cpu, cuda, cuda:N or mps)")
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise DeviceError(f"device {requested!r} is not available on this machine (CUDA devices: "
                          f"{torch.cuda.device_count() if torch.cuda.is_available() else 0})")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("device 'mps' is not available on this machine")
    return device


def describe(device: torch.device) -> str:
    """A human-readable name for reports: ``cuda:0 (NVIDIA H100 ...)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        index = device.index or 0
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
