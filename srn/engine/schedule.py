"""Learning-rate schedule: linear warm-up, then steps.

``lr(it) = base · gamma^k · w(it)``, where ``k`` is the number of step iterations ``<= it`` and
the warm-up factor ``w`` rises linearly from ``warmup_factor`` at iteration 0 to 1 at
``warmup_iters`` (Detectron's "linear" warm-up): ``w = f + (1 − f) · it / warmup_iters`` for
``it < warmup_iters``, else 1. Steps are given in epochs and converted with the number of
iterations per epoch. The schedule is a pure function of the iteration, so its state is only
its settings; ``apply`` sets the optimiser's learning rate for an iteration.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from torch.optim import Optimizer


@dataclass(frozen=True)
class WarmupStepSchedule:
    base_lr: float
    step_iters: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_iters: int = 0
    warmup_factor: float = 1.0 / 3.0

    @classmethod
    def from_epochs(cls, base_lr: float, step_epochs: Sequence[int], iters_per_epoch: int, gamma: float = 0.1,
                    warmup_iters: int = 0, warmup_factor: float = 1.0 / 3.0) -> WarmupStepSchedule:
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be at least 1, got {iters_per_epoch}")
        return cls(float(base_lr), tuple(int(e) * iters_per_epoch for e in step_epochs), float(gamma),
                   int(warmup_iters), float(warmup_factor))

    def lr_at(self, iteration: int) -> float:
        k = bisect.bisect_right(self.step_iters, iteration)
        lr = self.base_lr * self.gamma ** k
        if iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            lr *= self.warmup_factor + (1.0 - self.warmup_factor) * alpha
        return lr

    def apply(self, optimizer: Optimizer, iteration: int) -> float:
        lr = self.lr_at(iteration)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        out = asdict(self)
        out["step_iters"] = list(self.step_iters)
        return out

    @classmethod
    def from_state_dict(cls, state: dict) -> WarmupStepSchedule:
        return cls(float(state["base_lr"]), tuple(int(s) for s in state["step_iters"]), float(state["gamma"]),
                   int(state["warmup_iters"]), float(state["warmup_factor"]))
