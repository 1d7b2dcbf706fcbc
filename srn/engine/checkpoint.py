"""Detector checkpoints: the authors' ``SRN.pth`` and the project's own format with metadata.

Only weights are ever unpickled (``torch.load(..., weights_only=True)``): a checkpoint from the
internet cannot run code. Two layouts are read:

* the authors' release: ``{"state_dict": {...}}`` (keys possibly prefixed ``module.`` by
  DataParallel), written by torch 0.3 in the legacy non-zip format — the network's parameter
  names are the authors', so no key mapping is needed;
* the project's format: ``{"format": "darkface-srn", "version": 1, "state_dict": {...},
  "metadata": {...}}`` where metadata holds the SRN config, backbone, training data summary,
  enhancement, parent model, metrics and creation time (plain JSON-like values only).

A bare state dict (all tensors) is accepted too. Every mismatch with the model — missing keys,
unexpected keys, wrong shapes — is reported together in one ``CheckpointError``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srn import __version__
from srn.fileio import atomic_write_bytes, sha256_file  # noqa: F401 - sha256_file is re-exported

FORMAT = "darkface-srn"
VERSION = 1
STATE_KEY = "training_state"
"""Key of the resumable training state in a checkpoint written during training."""
_MAX_LISTED = 12


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; ``str()`` starts with the file's path."""

    def __init__(self, path: str | os.PathLike[str] | None, message: str) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class NonFiniteWeightsWarning(UserWarning):
    """A checkpoint holds NaN or infinite weights: whatever it detects is meaningless (a diverged
    training run saves such files; they load without error and find "0 faces")."""


@dataclass
class CheckpointMetadata:
    """What the project records about a model next to its weights."""

    srn_config: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)  # e.g. {"images": 812, "faces": 9301, "source": ...}
    enhancement: dict[str, Any] | None = None  # MethodParams.to_dict() of the input enhancement, or None
    parent: dict[str, Any] | None = None  # {"name": ..., "sha256": ...} of the model this one was fine-tuned from
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    software: str = f"darkface-studio {__version__}"
    source_format: str = FORMAT  # "authors" when read from the released SRN.pth

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckpointMetadata:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def _looks_like_torch_file(path: Path) -> bool:
    """A zip archive (torch >= 1.6) or a pickle stream (the legacy format) — by the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    return head == b"PK" or head[:1] == b"\x80"


def read_checkpoint_file(path: str | os.PathLike[str]) -> Any:
    """Unpickle weights only; turn every failure into a ``CheckpointError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if not _looks_like_torch_file(path):
        raise CheckpointError(path, "cannot read checkpoint: not a PyTorch file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        raise CheckpointError(
            path, "contains Python objects other than weights; refusing to unpickle arbitrary objects"
            + (f" ({reason})" if reason else "")
        ) from None
    except (EOFError, RuntimeError, ValueError, OSError) as exc:
        raise CheckpointError(path, f"cannot read checkpoint (truncated or damaged): {exc}") from None


def split_checkpoint(obj: Any,
                     path: str | os.PathLike[str] | None = None) -> tuple[dict[str, torch.Tensor], CheckpointMetadata]:
    """The state dict (``module.`` prefix removed) and metadata of any supported layout."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(path, f"expected a dict in the checkpoint, found {type(obj).__name__}")
    if obj.get("format") == FORMAT:
        if int(obj.get("version", 0)) > VERSION:
            raise CheckpointError(path, f"checkpoint format version {obj['version']} is newer than this "
                                        f"software understands ({VERSION}); update darkface-studio")
        state, metadata = obj.get("state_dict"), CheckpointMetadata.from_dict(obj.get("metadata") or {})
    elif "state_dict" in obj:
        state, metadata = obj["state_dict"], CheckpointMetadata(source_format="authors")
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, metadata = obj, CheckpointMetadata(source_format="state_dict")
    else:
        raise CheckpointError(path, "no 'state_dict' in the checkpoint "
                                    f"(top-level keys: {', '.join(map(str, list(obj)[:8]))})")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(path, "'state_dict' is not a mapping of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state), metadata


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", … ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], path=None) -> None:
    """Raise one ``CheckpointError`` listing every missing, unexpected and wrongly shaped key."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    shapes = sorted(
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)})"
        for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {_listing(shapes)}")
    if problems:
        raise CheckpointError(path, "does not fit the model: " + "; ".join(problems))


def non_finite_tensors(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors in ``state`` holding a NaN or an infinity."""
    return sorted(k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))


def check_finite(state: Mapping[str, torch.Tensor], path=None, *, nonfinite: str = "warn") -> None:
    """Warn (``NonFiniteWeightsWarning``) or, with ``nonfinite="error"``, raise a
    ``CheckpointError`` when ``state`` holds NaN or infinite weights."""
    if nonfinite not in ("warn", "error"):
        raise ValueError(f"nonfinite must be 'warn' or 'error', got {nonfinite!r}")
    bad = non_finite_tensors(state)
    if not bad:
        return
    message = (f"{len(bad)} weight tensor(s) hold NaN or infinite values ({_listing(bad)}): the model "
               "detects nothing meaningful (a diverged training run writes such files)")
    if nonfinite == "error":
        raise CheckpointError(path, message)
    warnings.warn(f"{path}: {message}" if path is not None else message, NonFiniteWeightsWarning, stacklevel=3)


def apply_state_dict(model: nn.Module, state: dict, path: str | os.PathLike[str], *, nonfinite: str = "warn") -> None:
    """Load ``state`` (read from ``path``) into ``model`` strictly, after ``check_state_dict``
    and ``check_finite``."""
    check_state_dict(model, state, path)
    check_finite(state, path, nonfinite=nonfinite)
    model.load_state_dict(state, strict=True)


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> CheckpointMetadata:
    """Load a checkpoint file into ``model`` strictly; returns its metadata."""
    state, metadata = split_checkpoint(read_checkpoint_file(path), path)
    apply_state_dict(model, state, path)
    return metadata


def srn_config_of(metadata: CheckpointMetadata, path=None, default: Mapping[str, Any] | None = None):
    """The ``SRNConfig`` a checkpoint's metadata records (else ``default``, else the authors');
    a wrong type or an absurd size there is a ``CheckpointError`` naming the file, raised before
    any network is built (``channels: 1000000`` would ask for terabytes)."""
    from srn.model.config import SRNConfig

    recorded = metadata.srn_config or default or {}
    try:
        if not isinstance(recorded, Mapping):
            raise ValueError(f"expected a mapping, found {type(recorded).__name__}")
        return SRNConfig.from_dict(dict(recorded))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"unusable SRN configuration in the metadata: {exc}") from None


def verify_checkpoint(path: str | os.PathLike[str]) -> CheckpointMetadata:
    """Check that ``path`` is an SRN detector checkpoint before anyone registers it as a model:
    weights only, every tensor the network its metadata describes expects (shapes included),
    all finite. Returns the metadata; any problem is a ``CheckpointError`` naming the file.

    The network is built on the ``meta`` device (shapes without memory), so checking the
    authors' 200 MB ``SRN.pth`` costs its read, not a second copy of its weights.
    """
    from srn.model.srn_net import SRN

    state, metadata = split_checkpoint(read_checkpoint_file(path), path)
    config = srn_config_of(metadata, path)
    with torch.device("meta"):
        model = SRN(config)
    check_state_dict(model, state, path)
    check_finite(state, path, nonfinite="error")
    return metadata


def _payload(state_dict: dict[str, torch.Tensor], metadata: CheckpointMetadata) -> dict:
    """The project format's top-level mapping (``read_checkpoint_file`` / ``split_checkpoint`` read it)."""
    return {"format": FORMAT, "version": VERSION, "state_dict": state_dict, "metadata": asdict(metadata)}


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, metadata: CheckpointMetadata,
                    training_state: dict | None = None) -> str:
    """Write the project's checkpoint format atomically; returns the file's sha256.

    ``training_state`` (optimiser, schedule, RNG, data order: ``srn.engine.train``) makes the
    file resumable; it is stored beside the weights under ``STATE_KEY``.
    """
    if not metadata.created:
        metadata.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    payload = _payload({k: v.detach().cpu() for k, v in model.state_dict().items()}, metadata)
    if training_state is not None:
        payload[STATE_KEY] = training_state
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def save_half_precision(src: str | os.PathLike[str], dst: str | os.PathLike[str], **metadata: Any) -> int:
    """Copy the checkpoint ``src`` to ``dst`` with floating-point weights stored as float16.

    For a model that ships with the app: float16 halves the file and the archive's entries are
    deflate-compressed (lossless; ``torch.load`` reads them as they are), and ``load_state_dict``
    casts the weights back into the float32 network. ``metadata`` entries replace those of
    ``src``'s metadata (e.g. ``training_data``, ``metrics``); any training state is dropped.
    Returns the size in bytes.
    """
    state, meta = split_checkpoint(read_checkpoint_file(src), src)
    for key, value in metadata.items():
        setattr(meta, key, value)
    payload = _payload({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, meta)
    plain = io.BytesIO()
    torch.save(payload, plain)
    packed = io.BytesIO()
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    atomic_write_bytes(dst, packed.getvalue())
    return len(packed.getvalue())
