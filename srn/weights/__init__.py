"""Known model files (the authors' SRN, torchvision's ImageNet backbones) and a careful fetcher.

``resolve_source(name_or_url)`` says where a model comes from; ``fetch(source)`` downloads it
(resuming a ``.part`` file), checks size, hash and every key and shape against the network, and
renames it into place only then. The CLI front end is ``srn weights`` (``srn.commands.weights``).

Names are imported on first use, so ``srn.weights.authors`` stays importable without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "srn.weights.authors": ("AUTHORS_BAIDU_CODE", "AUTHORS_BAIDU_URL", "AUTHORS_DRIVE_ID", "AUTHORS_FILE",
                            "AUTHORS_MODEL", "AUTHORS_REPO"),
    "srn.weights.catalogue": ("KNOWN_MODELS", "KnownModel", "data_dir", "default_path", "hub_checkpoints_dir",
                              "imagenet_url", "installed_path", "known_model", "models_dir"),
    "srn.weights.download": ("FetchCancelled", "FetchError", "download_drive", "download_url", "drive_url"),
    "srn.weights.fetch": ("FetchResult", "Source", "destination", "fetch", "resolve_source", "verify"),
    "srn.weights.verify": ("Verified", "verify_imagenet", "verify_srn"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [  # noqa: RUF022 - grouped by module, as in _EXPORTS
    "AUTHORS_BAIDU_CODE", "AUTHORS_BAIDU_URL", "AUTHORS_DRIVE_ID", "AUTHORS_FILE", "AUTHORS_MODEL", "AUTHORS_REPO",
    "KNOWN_MODELS", "KnownModel", "data_dir", "default_path", "hub_checkpoints_dir", "imagenet_url", "installed_path",
    "known_model", "models_dir",
    "FetchCancelled", "FetchError", "download_drive", "download_url", "drive_url",
    "FetchResult", "Source", "destination", "fetch", "resolve_source", "verify",
    "Verified", "verify_imagenet", "verify_srn",
]
assert set(__all__) == set(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'srn.weights' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
