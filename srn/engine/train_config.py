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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
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


# ----------------------------------------------------------------------- per-field checks
# Each check takes (name, value) and raises ConfigError naming the setting; a field declares
# its check in its metadata (``_checked``), and ``TrainConfig`` runs every field's check.
Check = Callable[[str, Any], None]


def _fail(name: str, value: Any, message: str) -> None:
    raise ConfigError(f"{name}: {message} (got {value!r})")


def _rule(ok: Callable[[Any], bool], message: str) -> Check:
    def check(name: str, value: Any) -> None:
        if not ok(value):
            _fail(name, value, message)
    return check


def _or_null(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or ok(v)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


POSITIVE_INT = _rule(lambda v: _is_int(v) and v >= 1, "must be a positive integer")
NON_NEGATIVE_INT = _rule(lambda v: _is_int(v) and v >= 0, "must be a non-negative integer")
POSITIVE_NUMBER = _rule(lambda v: _is_num(v) and v > 0, "must be a positive number")
NON_NEGATIVE_NUMBER = _rule(lambda v: _is_num(v) and v >= 0, "must be a non-negative number")
BOOLEAN = _rule(lambda v: isinstance(v, bool), "must be true or false")
PATH_OR_NULL = _rule(_or_null(lambda v: isinstance(v, str)), "must be a path string or null")


def _one_of(choices: tuple[str, ...]) -> Check:
    return _rule(lambda v: v in choices, f"must be one of {', '.join(choices)}")


def _data_specs(name: str, value: Any) -> None:
    for index, spec in enumerate(_as_list(value, name)):
        _check_spec(spec, name, index)


def _enhance(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        _fail(name, value, "must be a dict of srn.enhance parameters (with 'method') or null")
    from srn.enhance import ParamError, params_from_dict

    try:
        params_from_dict(value)
    except (ParamError, TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _pseudo_labels(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or "images" not in value or not isinstance(value["images"], str):
        _fail(name, value, "must be a dict with 'images' (a folder) and optional 'threshold', 'weight'")
    unknown = sorted(set(value) - PSEUDO_KEYS)
    if unknown:
        raise ConfigError(f"{name}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(PSEUDO_KEYS))})")
    threshold, weight = value.get("threshold", 0.8), value.get("weight", 0.5)
    if not _is_num(threshold) or not 0 <= threshold <= 1:
        raise ConfigError(f"{name}.threshold: must be in [0, 1] (got {value.get('threshold')!r})")
    if not _is_num(weight) or not weight >= 0:
        raise ConfigError(f"{name}.weight: must be a non-negative number (got {value.get('weight')!r})")


def _checked(default: Any, check: Check) -> Any:
    """A dataclass field with ``default`` whose value ``check`` validates."""
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True)
class TrainConfig:
    data: tuple = _checked((), _data_specs)  # data specs (module docstring)
    val: tuple = _checked((), _data_specs)  # held-out data specs: AP@0.5 in the final checkpoint
    enhance: dict | None = _checked(None, _enhance)  # srn.enhance MethodParams dict applied to every image
    enhance_cache: str | None = _checked(None, PATH_OR_NULL)  # folder of the enhancement cache
    pseudo_labels: dict | None = _checked(None, _pseudo_labels)  # {"images": DIR, "threshold": 0.8, "weight": 0.5}
    backbone: str = _checked("resnet50", _one_of(BACKBONES))
    channels: int = _checked(256, POSITIVE_INT)
    size: int = _checked(1024, _rule(lambda v: _is_int(v) and v >= 32, "must be an integer of at least 32 px"))
    backbone_weights: str | None = _checked(None, PATH_OR_NULL)  # local ImageNet state dict (no --init)
    lr: float = _checked(0.01, POSITIVE_NUMBER)
    momentum: float = _checked(0.9, NON_NEGATIVE_NUMBER)
    weight_decay: float = _checked(1e-4, NON_NEGATIVE_NUMBER)
    warmup_iters: int = _checked(500, NON_NEGATIVE_INT)
    # lr multiplier at iteration 0, rising linearly to 1
    warmup_factor: float = _checked(1.0 / 3.0, _rule(lambda v: _is_num(v) and 0 < v <= 1, "must be in (0, 1]"))
    lr_steps: tuple = _checked((100, 120), _rule(  # epochs
        lambda v: all(_is_int(e) and e >= 0 for e in v) and list(v) == sorted(v),
        "must be increasing non-negative epochs"))
    lr_gamma: float = _checked(0.1, POSITIVE_NUMBER)
    epochs: int = _checked(130, POSITIVE_INT)
    batch_size: int = _checked(32, POSITIVE_INT)  # global: split across DDP ranks
    max_iters: int | None = _checked(None, _rule(  # cap on the total iterations
        _or_null(lambda v: _is_int(v) and v >= 1), "must be a positive integer or null"))
    amp: str = _checked("none", _one_of(AMP_MODES))  # none | bf16 | fp16 (fp16 needs CUDA; uses a GradScaler)
    grad_clip: float | None = _checked(None, _rule(  # max gradient norm
        _or_null(lambda v: _is_num(v) and v > 0), "must be a positive number or null"))
    # null: frozen when starting from weights (init, resume, backbone), trained from scratch
    freeze_bn: bool | None = _checked(None, _rule(
        _or_null(lambda v: isinstance(v, bool)), "must be true or false (or null: chosen by how training starts)"))
    sync_bn: bool = _checked(False, BOOLEAN)  # SyncBatchNorm under DDP (needs freeze_bn false and CUDA)
    augment: bool = _checked(True, BOOLEAN)
    workers: int = _checked(4, NON_NEGATIVE_INT)
    seed: int = _checked(0, NON_NEGATIVE_INT)
    device: str = _checked("auto", _rule(lambda v: isinstance(v, str),
                                         "must be a string: auto, cpu, cuda, cuda:N or mps"))
    checkpoint_every: int = _checked(1000, POSITIVE_INT)  # iterations
    log_every: int = _checked(20, POSITIVE_INT)  # iterations

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_steps", tuple(_as_list(self.lr_steps, "lr_steps")))
        for f in fields(self):
            f.metadata["check"](f.name, getattr(self, f.name))
        for name in ("data", "val"):  # checked: lists of specs, stored as tuples of dicts
            object.__setattr__(self, name, tuple(dict(spec) for spec in getattr(self, name)))
        if self.sync_bn and self.freeze_bn:  # the one rule across fields
            raise ConfigError("sync_bn: SyncBatchNorm needs freeze_bn false (frozen BatchNorm has nothing to sync)")

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


def _check_spec(spec: Any, name: str, index: int) -> None:
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
