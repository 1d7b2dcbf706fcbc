"""Converted models on disk, so the second start of the app compiles in under a second.

Layout under the cache root (default ``<data folder>/compiled``)::

    openvino/<weights digest>/<ir kind>-g<graph version>-ov<openvino version>/model.xml, model.bin
    openvino/<weights digest>/auto-ov<openvino version>-<cpu>.json     the auto choice and its check
    openvino/blobs/                                                     OpenVINO's own compiled blobs

The weights digest is the sha256 of the network's state (names, dtypes, shapes and bytes), so a
changed checkpoint never meets a stale graph; the graph version (``srn.model.inference_graph``)
and the library version key the rest. The input shape is not part of the key: the graph keeps
height and width dynamic. Every entry is written through a staging folder (``staged_folder``):
a killed process leaves no half entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from srn.fileio import atomic_write_text, staged_folder
from srn.model.inference_graph import GRAPH_VERSION

IR_FILES = ("model.xml", "model.bin")


def default_root() -> Path:
    from srn.weights.catalogue import data_dir

    return data_dir() / "compiled"


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 (hex) of ``model``'s parameters and buffers: what a compiled graph was made from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


class CompileCache:
    """One backend's entries under ``root`` (``None``: the default root)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, backend: str = "openvino") -> None:
        self.root = Path(root) if root is not None else default_root()
        self.folder = self.root / backend

    def model_folder(self, digest: str) -> Path:
        return self.folder / digest

    def ir_folder(self, digest: str, kind: str, version: str) -> Path:
        return self.model_folder(digest) / f"{kind}-g{GRAPH_VERSION}-ov{_safe(version)}"

    def ir_path(self, digest: str, kind: str, version: str) -> Path | None:
        """``model.xml`` of a complete entry, or None."""
        folder = self.ir_folder(digest, kind, version)
        return folder / "model.xml" if all((folder / name).is_file() for name in IR_FILES) else None

    def write_ir(self, digest: str, kind: str, version: str, save) -> Path:
        """Store an entry: ``save(path_of_model_xml)`` writes the xml and its bin into a staging folder."""
        folder = self.ir_folder(digest, kind, version)
        with staged_folder(folder) as stage:
            save(stage / "model.xml")
        return folder / "model.xml"

    def blobs(self) -> Path:
        return self.folder / "blobs"

    def choice_path(self, digest: str, version: str, machine: str) -> Path:
        return self.model_folder(digest) / f"auto-ov{_safe(version)}-{_safe(machine)}.json"

    def read_choice(self, digest: str, version: str, machine: str) -> dict | None:
        path = self.choice_path(digest, version, machine)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # none yet, or unreadable: check again
        return data if isinstance(data, dict) and isinstance(data.get("precision"), str) else None

    def write_choice(self, digest: str, version: str, machine: str, choice: dict) -> Path:
        return atomic_write_text(self.choice_path(digest, version, machine), json.dumps(choice, indent=1) + "\n")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)[:80]
