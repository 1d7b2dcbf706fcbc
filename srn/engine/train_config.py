"""``TrainConfig``: every setting of a training run, from a JSON file and ``--set key=value`` flags.

Defaults follow the issue "SRN training and fine-tuning": SGD (momentum 0.9, weight decay 1e-4),
linear warm-up, lr 0.01 → 0.001 → 0.0001 at epochs 100 / 120, 130 epochs, global batch 32,
training size 1024, ResNet-50 with 256-channel FPN/head, BatchNorm frozen.

``--set`` values are parsed as JSON when they parse (``lr=0.001``, ``lr_steps=[8,10]``,
``amp=null``), as a plain string otherwise (``backbone=resnet18``). A dotted key sets a field of a
dict-valued setting (``pseudo_labels.threshold=0.9``). Unknown keys and bad values raise
``ConfigError`` naming the key (and the file, for a config file).

Data specs (``data`` and ``val``) are lists of dicts:
``{"type": "darkface", "labels": DIR, "images": DIR}``, ``{"type": "wider", "gt": FILE,
"root": DIR}``, ``{"type": "manifest", "path": FILE}``; relative paths in a config file are
relative to that file's folder.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from srn.fileio import read_json_file
from srn.model.config import BACKBONES

AMP_MODES = ("none", "bf16", "fp16")
DATA_TYPES = {"darkface": ("labels", "images"), "wider": ("gt", "root"), "manifest": ("path",)}
_PATH_KEYS = ("labels", "images", "gt", "root", "path")
PSEUDO_KEYS = {"images", "threshold", "weight"}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class TrainConfig:
    data: tuple = ()  # data specs (module docstring)
    val: tuple = ()  # held-out data specs: AP@0.5 in the final checkpoint
    enhance: dict | None = None  # srn.enhance MethodParams dict applied to every training image
    enhance_cache: str | None = None  # folder of the enhancement cache
    pseudo_labels: dict | None = None  # {"images": DIR, "threshold": 0.8, "weight": 0.5}
    backbone: str = "resnet50"
    channels: int = 256
    size: int = 1024
    backbone_weights: str | None = None  # local ImageNet state dict for the backbone (no --init)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 500
    warmup_factor: float = 1.0 / 3.0  # lr multiplier at iteration 0, rising linearly to 1
    lr_steps: tuple = (100, 120)  # epochs
    lr_gamma: float = 0.1
    epochs: int = 130
    batch_size: int = 32  # global: split across DDP ranks
    max_iters: int | None = None  # cap on the total iterations
    amp: str = "none"  # none | bf16 | fp16 (fp16 needs CUDA; uses a GradScaler)
    grad_clip: float | None = None  # max gradient norm
    freeze_bn: bool | None = None  # null: frozen when starting from weights (init, resume, backbone),
                                   # trained from scratch
    sync_bn: bool = False  # SyncBatchNorm under DDP (needs freeze_bn false and CUDA)
    augment: bool = True
    workers: int = 4
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1000  # iterations
    log_every: int = 20  # iterations

    def __post_init__(self) -> None:
        object.__setattr__(self, "data",
                           tuple(_check_spec(s, "data", i) for i, s in enumerate(_as_list(self.data, "data"))))
        object.__setattr__(self, "val",
                           tuple(_check_spec(s, "val", i) for i, s in enumerate(_as_list(self.val, "val"))))
        object.__setattr__(self, "lr_steps", tuple(_as_list(self.lr_steps, "lr_steps")))
        self._validate()

    def _validate(self) -> None:
        def fail(name: str, message: str) -> None:
            raise ConfigError(f"{name}: {message} (got {getattr(self, name)!r})")

        for name in ("channels", "epochs", "batch_size", "checkpoint_every", "log_every"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                fail(name, "must be a positive integer")
        for name in ("warmup_iters", "workers", "seed"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "must be a non-negative integer")
        if self.max_iters is not None and (not _is_int(self.max_iters) or self.max_iters < 1):
            fail("max_iters", "must be a positive integer or null")
        if not _is_int(self.size) or self.size < 32:
            fail("size", "must be an integer of at least 32 px")
        if self.backbone not in BACKBONES:
            fail("backbone", f"must be one of {', '.join(BACKBONES)}")
        for name in ("lr", "lr_gamma"):
            if not _is_num(getattr(self, name)) or not getattr(self, name) > 0:
                fail(name, "must be a positive number")
        for name in ("momentum", "weight_decay"):
            if not _is_num(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "must be a non-negative number")
        if not _is_num(self.warmup_factor) or not 0 < self.warmup_factor <= 1:
            fail("warmup_factor", "must be in (0, 1]")
        if not all(_is_int(e) and e >= 0 for e in self.lr_steps) or list(self.lr_steps) != sorted(self.lr_steps):
            fail("lr_steps", "must be increasing non-negative epochs")
        if self.amp not in AMP_MODES:
            fail("amp", f"must be one of {', '.join(AMP_MODES)}")
        if self.grad_clip is not None and (not _is_num(self.grad_clip) or not self.grad_clip > 0):
            fail("grad_clip", "must be a positive number or null")
        for name in ("freeze_bn", "sync_bn", "augment"):
            if not isinstance(getattr(self, name), bool) and not (name == "freeze_bn" and self.freeze_bn is None):
                fail(name, "must be true or false"
                     + (" (or null: chosen by how training starts)" if name == "freeze_bn" else ""))
        if self.sync_bn and self.freeze_bn:
            raise ConfigError("sync_bn: SyncBatchNorm needs freeze_bn false (frozen BatchNorm has nothing to sync)")
        if not isinstance(self.device, str):
            fail("device", "must be a string: auto, cpu, cuda, cuda:N or mps")
        for name in ("enhance_cache", "backbone_weights"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                fail(name, "must be a path string or null")
        if self.enhance is not None:
            if not isinstance(self.enhance, dict):
                fail("enhance", "must be a dict of srn.enhance parameters (with 'method') or null")
            from srn.enhance import ParamError, params_from_dict

            try:
                params_from_dict(self.enhance)
            except (ParamError, TypeError, ValueError) as exc:
                raise ConfigError(f"enhance: {exc}") from None
        if self.pseudo_labels is not None:
            p = self.pseudo_labels
            if not isinstance(p, dict) or "images" not in p or not isinstance(p["images"], str):
                fail("pseudo_labels", "must be a dict with 'images' (a folder) and optional 'threshold', 'weight'")
            unknown = sorted(set(p) - PSEUDO_KEYS)
            if unknown:
                raise ConfigError(f"pseudo_labels: unknown key(s) {', '.join(unknown)} "
                                  f"(known: {', '.join(sorted(PSEUDO_KEYS))})")
            if not _is_num(p.get("threshold", 0.8)) or not 0 <= p.get("threshold", 0.8) <= 1:
                raise ConfigError(f"pseudo_labels.threshold: must be in [0, 1] (got {p.get('threshold')!r})")
            if not _is_num(p.get("weight", 0.5)) or not p.get("weight", 0.5) >= 0:
                raise ConfigError(f"pseudo_labels.weight: must be a non-negative number (got {p.get('weight')!r})")

    @property
    def pseudo_threshold(self) -> float:
        return float((self.pseudo_labels or {}).get("threshold", 0.8))

    @property
    def pseudo_weight(self) -> float:
        return float((self.pseudo_labels or {}).get("weight", 0.5))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists, dicts, numbers, strings): also what checkpoints store."""
        out = asdict(self)
        out["data"] = [dict(s) for s in self.data]
        out["val"] = [dict(s) for s in self.val]
        out["lr_steps"] = list(self.lr_steps)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object of settings, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def frozen_bn(self, from_weights: bool) -> bool:
        """Whether BatchNorm stays frozen: ``freeze_bn`` when set, else frozen when training starts
        from trained weights (their statistics are worth keeping) and trained from scratch (frozen
        initial statistics leave the backbone unable to learn: AP@0.5 0.01 after 300 iterations in
        ``benchmarks/train_synth.py``); never frozen under ``sync_bn``."""
        if self.freeze_bn is not None:
            return self.freeze_bn
        return from_weights and not self.sync_bn

    def with_overrides(self, assignments: list[str]) -> TrainConfig:
        """A copy with ``key=value`` assignments applied (module docstring)."""
        data = self.to_dict()
        for text in assignments:
            key, value = parse_assignment(text)
            head, _, rest = key.partition(".")
            if head not in data:
                raise ConfigError(f"--set {text}: unknown setting {head!r}")
            if rest:
                current = data[head] if isinstance(data[head], dict) else {}
                data[head] = {**current, rest: value}
            else:
                data[head] = value
        return TrainConfig.from_dict(data, where="--set")

    def replace(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"key=value"`` → ``(key, value)``; value as JSON when it parses, else the string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected key=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def load_config(path: str | os.PathLike[str] | None = None, assignments: list[str] | None = None) -> TrainConfig:
    """Defaults, updated by the JSON file ``path`` (relative data paths resolved against its
    folder), then by ``--set`` assignments."""
    config = TrainConfig()
    if path is not None:
        path = Path(path)
        try:
            data = read_json_file(path, "config file")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(data, dict):
            data = _resolve_paths(data, path.parent)
        config = TrainConfig.from_dict(data, where=str(path))
    return config.with_overrides(list(assignments or []))


def _resolve_paths(data: dict, base: Path) -> dict:
    out = dict(data)
    for name in ("data", "val"):
        if isinstance(out.get(name), list):
            out[name] = [{k: str(base / v) if k in _PATH_KEYS and isinstance(v, str) else v for k, v in s.items()}
                         if isinstance(s, dict) else s for s in out[name]]
    for name in ("enhance_cache", "backbone_weights"):
        if isinstance(out.get(name), str):
            out[name] = str(base / out[name])
    if isinstance(out.get("pseudo_labels"), dict) and isinstance(out["pseudo_labels"].get("images"), str):
        out["pseudo_labels"] = {**out["pseudo_labels"], "images": str(base / out["pseudo_labels"]["images"])}
    return out


def _as_list(value: Any, name: str) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"{name}: must be a list (got {value!r})")


def _check_spec(spec: Any, name: str, index: int) -> dict:
    where = f"{name}[{index}]"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a data spec must be an object with 'type' (got {spec!r})")
    kind = spec.get("type")
    if kind not in DATA_TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(DATA_TYPES)} (got {kind!r})")
    required = DATA_TYPES[kind]
    missing = [k for k in required if not isinstance(spec.get(k), str)]
    if missing:
        raise ConfigError(f"{where}: a {kind} spec needs {', '.join(repr(k) for k in required)} "
                          f"(missing {', '.join(missing)})")
    unknown = sorted(set(spec) - {"type", *required})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for a {kind} spec")
    return dict(spec)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
