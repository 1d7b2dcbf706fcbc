"""Named fine-tuning settings: what "Fine-tune on my labels" proposes before anyone changes a number.

The standard settings (1000 iterations at 640 px, batch 8) are the method's; on a 2-core CPU they
take hours, so a CPU starts from the quick preset instead: a short run at a small size that ends in
a few minutes and still moves the model toward the corrections (``benchmarks/sample_loop.py``
measures both the minutes and the gain on the sample project).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    iterations: int
    batch_size: int
    size: int
    lr: float
    workers: int
    """Data-loading processes. None for the quick preset: its few images make an epoch a couple of
    iterations, and starting the worker processes again every epoch cost more than loading in the
    training process (measured: half the run's time, mostly in the kernel, on 2 cores)."""

    def settings(self) -> dict:
        """The ``TrainJob`` settings this preset fixes."""
        return {"iterations": self.iterations, "batch_size": self.batch_size, "size": self.size, "lr": self.lr,
                "workers": self.workers}


QUICK = Preset("quick", "Quick: a few minutes on a CPU", iterations=150, batch_size=4, size=320, lr=0.003, workers=0)
STANDARD = Preset("standard", "Standard: the method's settings (GPU)", iterations=1000, batch_size=8, size=640,
                  lr=0.003, workers=2)
PRESETS = {p.key: p for p in (QUICK, STANDARD)}


def default_preset(device: str) -> Preset:
    """The preset a run on ``device`` (``auto``, ``cpu``, ``cuda:0``…) starts from: quick on a CPU."""
    from app.jobs.train_estimate import resolve_device

    try:
        resolved = resolve_device(device)[0]
    except ValueError:
        resolved = "cpu"
    return STANDARD if resolved.startswith("cuda") else QUICK
