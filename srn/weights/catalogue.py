"""The models ``srn weights`` knows by name, and where their files live on this machine.

The authors' SRN is published only as a Google Drive file (and a BaiduYun share that needs a
browser), so it is catalogued by its Drive id; the ImageNet backbones come from torchvision's
weights API and go into torch hub's cache, where ``Weights.get_state_dict`` looks first.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from srn.engine.pretrained import TORCHVISION_WEIGHTS
from srn.weights.authors import (
    AUTHORS_BAIDU_CODE,
    AUTHORS_BAIDU_URL,
    AUTHORS_DRIVE_ID,
    AUTHORS_FILE,
    AUTHORS_MODEL,
    AUTHORS_REPO,
)

DATA_DIR_ENV = "DARKFACE_DATA_DIR"
"""Same variable as the app's (``app.sample_project``): one data folder for the app and the CLI."""


@dataclass(frozen=True)
class KnownModel:
    """A model fetchable by name. ``kind`` is ``"srn"`` (a detector) or ``"imagenet"`` (a backbone)."""

    name: str
    kind: str
    title: str
    source: str
    licence: str
    file_name: str = ""  # "" for ImageNet backbones: torchvision's URL names the file
    drive_id: str | None = None
    size: int | None = None  # bytes, when published
    sha256: str | None = None
    backbone: str | None = None  # torchvision name of an ImageNet backbone
    alternative: str = ""


_IMAGENET_LICENCE = ("torchvision's code is BSD-3-Clause; the weights were trained on ImageNet, "
                     "whose terms of access (non-commercial research) may bind them")

KNOWN_MODELS: dict[str, KnownModel] = {
    AUTHORS_MODEL: KnownModel(
        name=AUTHORS_MODEL,
        kind="srn",
        title="SRN ResNet-50 trained on WIDER FACE by the authors (Chi, Zhang et al., AAAI 2019), ~200 MB",
        source=f"Google Drive file {AUTHORS_DRIVE_ID}, linked from the README of {AUTHORS_REPO}",
        licence="the authors' research release; their repository states no licence: ask them before other uses",
        file_name=AUTHORS_FILE,
        drive_id=AUTHORS_DRIVE_ID,
        alternative=(f"BaiduYun {AUTHORS_BAIDU_URL} (extraction code {AUTHORS_BAIDU_CODE}) in a browser, then "
                     f"`srn weights fetch {AUTHORS_MODEL} --from ~/Downloads/{AUTHORS_FILE}`"),
    ),
    **{
        backbone: KnownModel(
            name=backbone,
            kind="imagenet",
            title=f"ImageNet {backbone.replace('resnet', 'ResNet-')} backbone ({enum}), to train from scratch",
            source=f"torchvision's weights API ({enum}), download.pytorch.org",
            licence=_IMAGENET_LICENCE,
            backbone=backbone,
        )
        for backbone, enum in TORCHVISION_WEIGHTS.items()
    },
}


def known_model(name: str) -> KnownModel:
    """The catalogue entry ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(KNOWN_MODELS)})") from None


ORG_NAME, APP_NAME = "DarkFace", "DarkFace Studio"
"""The app's organisation and application names (``app.main``), which Qt's data folder is named by."""


def data_dir() -> Path:
    """The app's data folder, computed without Qt so the command line and the window share it:
    ``$DARKFACE_DATA_DIR``, else the folder Qt's ``AppDataLocation`` gives the app (Linux:
    ``$XDG_DATA_HOME`` or ``~/.local/share``, then ``DarkFace/DarkFace Studio``; macOS:
    ``~/Library/Application Support/...``; Windows: ``%APPDATA%\\...``)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / ORG_NAME / APP_NAME


def models_dir() -> Path:
    """Where fetched detector weights go by default."""
    return data_dir() / "models"


def hub_checkpoints_dir() -> Path:
    """torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``), read by torchvision's weights API."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_url(backbone: str) -> str:
    """The official download address of ``backbone``'s ImageNet weights (from torchvision)."""
    if backbone not in TORCHVISION_WEIGHTS:
        raise KeyError(f"no ImageNet weights known for backbone {backbone!r}")
    from torchvision.models import get_weight

    return get_weight(TORCHVISION_WEIGHTS[backbone]).url


def default_path(model: KnownModel) -> Path:
    """Where ``model`` goes when no ``--out`` is given (and where ``srn weights list`` looks)."""
    if model.kind == "imagenet":
        assert model.backbone is not None  # every ImageNet entry names its backbone
        return hub_checkpoints_dir() / url_file_name(imagenet_url(model.backbone))
    return models_dir() / model.file_name


def installed_path(model: KnownModel) -> Path | None:
    """The file of ``model`` at its default place, if there is one."""
    path = default_path(model)
    return path if path.is_file() else None


def url_file_name(url: str, fallback: str = "weights.pth") -> str:
    """The last path segment of ``url`` (percent-decoded), or ``fallback`` when it has none."""
    from urllib.parse import unquote, urlsplit

    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return name if name not in ("", ".", "..") else fallback
