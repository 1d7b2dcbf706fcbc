"""Fetch a model file: download into ``<dest>.part``, check it, and only then rename it into place.

Order of checks on the finished ``.part``: size (announced / published), sha256 (when given,
or torch hub's hash prefix in an official torchvision file name), then the keys and shapes
against the network (``srn.weights.verify``). A file failing any check is deleted; an
interrupted transfer keeps its ``.part`` so the next run resumes it. The final name therefore
only ever holds a complete, verified file.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from srn.engine.checkpoint import CheckpointError
from srn.fileio import sha256_file
from srn.weights.catalogue import (
    KNOWN_MODELS,
    KnownModel,
    hub_checkpoints_dir,
    imagenet_url,
    models_dir,
    url_file_name,
)
from srn.weights.download import (
    DriveDownload,
    FetchError,
    Progress,
    download_drive,
    download_url,
    drive_url,
    move_into_place,
)
from srn.weights.verify import Verified, verify_imagenet, verify_srn

URL_SCHEMES = ("http://", "https://", "file://")
_HUB_HASH = re.compile(r"-([a-f0-9]*)\.")  # torch.hub.HASH_REGEX: "<name>-<sha256 prefix>.pth"


@dataclass(frozen=True)
class Source:
    """Where a model's bytes come from and what they must be."""

    label: str  # the catalogue name, or the address asked for
    kind: str  # "srn" or "imagenet"
    url: str  # http(s):// or file:// address; the Drive address when ``drive_id`` is set
    file_name: str  # default name of the installed file
    drive_id: str | None = None  # Google Drive file id: downloaded with gdown
    size: int | None = None
    sha256: str | None = None
    hash_prefix: str | None = None
    srn_config: dict[str, Any] | None = None  # for an SRN checkpoint without metadata
    backbone: str | None = None  # ImageNet backbones
    catalogued: bool = False

    def default_dir(self) -> Path:
        return hub_checkpoints_dir() if self.kind == "imagenet" else models_dir()


@dataclass(frozen=True)
class FetchResult:
    path: Path
    downloaded: bool  # False: a verified file was already there
    size: int
    sha256: str
    verified: Verified


def as_url(location: str) -> str:
    """``location`` if it is a URL, else the file:// URL of the local file it names."""
    if location.lower().startswith(URL_SCHEMES):
        return location
    path = Path(location).expanduser()
    if not path.is_file():
        raise FetchError(f"{location}: no such file (and not an http://, https:// or file:// address)")
    return path.resolve().as_uri()


def resolve_source(what: str, *, mirror: str | None = None, srn_config: dict[str, Any] | None = None,
                   sha256: str | None = None, size: int | None = None) -> Source:
    """The ``Source`` for a catalogue name, a URL, or a local file; ``mirror`` (a URL or file)
    replaces a catalogued model's address (the BaiduYun download, a local copy, a test server)."""
    model: KnownModel | None = KNOWN_MODELS.get(what)
    if model is None:
        if mirror is not None:
            raise FetchError(f"--from only applies to a known model ({', '.join(KNOWN_MODELS)}), not {what!r}")
        if not what.lower().startswith(URL_SCHEMES) and not Path(what).expanduser().is_file():
            raise FetchError(f"{what!r} is neither a known model ({', '.join(KNOWN_MODELS)}) nor an "
                             "http://, https:// or file:// address")
        url = as_url(what)
        source = Source(label=what, kind="srn", url=url, file_name=url_file_name(url))
    elif model.kind == "imagenet":
        assert model.backbone is not None  # every ImageNet entry names its backbone
        official = imagenet_url(model.backbone)
        name = url_file_name(official)
        match = _HUB_HASH.search(name)
        source = Source(label=model.name, kind="imagenet", url=as_url(mirror) if mirror else official, file_name=name,
                        hash_prefix=match.group(1) if match and not mirror else None, backbone=model.backbone,
                        size=model.size, sha256=model.sha256, catalogued=True)
    else:
        assert model.drive_id is not None  # every catalogued SRN model is on Google Drive
        source = Source(label=model.name, kind="srn", file_name=model.file_name, size=model.size, sha256=model.sha256,
                        url=as_url(mirror) if mirror else drive_url(model.drive_id),
                        drive_id=None if mirror else model.drive_id, catalogued=True)
    if sha256:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise FetchError(f"--sha256 expects 64 hexadecimal digits, got {sha256!r}")
        source = replace(source, sha256=sha256.lower())
    if size is not None:
        source = replace(source, size=size)
    if srn_config is not None:
        source = replace(source, srn_config=dict(srn_config))
    return source


def destination(source: Source, out: str | os.PathLike[str] | None = None) -> Path:
    """The installed file's path: ``out`` (a folder, existing or ending in a separator, gets the
    default file name), else the source's default folder."""
    if out is None:
        return source.default_dir() / source.file_name
    text = os.fspath(out)
    path = Path(text).expanduser()
    if path.is_dir() or text.endswith(("/", os.sep)):
        return path / source.file_name
    return path


def verify(source: Source, path: str | os.PathLike[str]) -> Verified:
    """The key/shape check for the source's kind (``CheckpointError`` on any mismatch)."""
    if source.kind == "imagenet":
        assert source.backbone is not None  # resolve_source sets it for every ImageNet source
        return verify_imagenet(path, source.backbone)
    return verify_srn(path, source.srn_config)


def _reason(exc: CheckpointError) -> str:
    """The checkpoint error without its (temporary) path prefix."""
    text, prefix = str(exc), f"{exc.path}: "
    return text[len(prefix):] if exc.path is not None and text.startswith(prefix) else text


def _check_existing(source: Source, dest: Path, force: bool) -> FetchResult | None:
    """A verified file already at ``dest`` (returned), nothing there (None), or a refusal."""
    if not dest.exists():
        return None
    if not dest.is_file():
        raise FetchError(f"{dest}: exists and is not a file")
    if force:
        return None
    if not (source.catalogued or source.sha256):
        raise FetchError(f"{dest}: already exists; use --force to replace it")
    try:
        checked = _check_file(source, dest, delete=False)
    except FetchError as exc:
        raise FetchError(f"{dest}: already exists and is not {source.label} ({exc}); "
                         "use --force to replace it") from None
    return FetchResult(dest, False, dest.stat().st_size, checked[0], checked[1])


def _check_file(source: Source, path: Path, *, delete: bool) -> tuple[str, Verified]:
    """(sha256, verification) of ``path``; ``FetchError`` (after deleting the file if ``delete``)."""
    def refuse(message: str):
        if delete:
            path.unlink(missing_ok=True)
        return FetchError(message + ("; the download was deleted" if delete else ""))

    size = path.stat().st_size
    if source.size is not None and size != source.size:
        raise refuse(f"{source.url}: size mismatch: {size} bytes, expected {source.size}")
    digest = sha256_file(path)
    if source.sha256 and digest != source.sha256:
        raise refuse(f"{source.url}: sha256 mismatch: got {digest}, expected {source.sha256}")
    if source.hash_prefix and not digest.startswith(source.hash_prefix):
        raise refuse(f"{source.url}: sha256 {digest} does not start with {source.hash_prefix} as its name says")
    try:
        checked = verify(source, path)
    except CheckpointError as exc:
        what = f"an ImageNet {source.backbone} state dict" if source.kind == "imagenet" else "an SRN checkpoint"
        raise refuse(f"{source.url}: not {what}: {_reason(exc)}") from None
    return digest, checked


def fetch(source: Source, out: str | os.PathLike[str] | None = None, *, force: bool = False,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          drive_download: DriveDownload | None = None) -> FetchResult:
    """Download ``source`` into place (see the module docstring); ``FetchError`` on any failure.

    ``drive_download(file_id, part, progress=, cancel=)`` replaces gdown for Drive sources
    (tests). ``cancel`` (set from any thread) stops between chunks, keeping the ``.part``.
    """
    dest = destination(source, out)
    existing = _check_existing(source, dest, force)
    if existing is not None:
        return existing
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if part.exists() and not part.is_file():
            raise FetchError(f"{part}: exists and is not a file")
        if source.drive_id:
            (drive_download or download_drive)(source.drive_id, part, progress=progress, cancel=cancel)
            if not part.is_file():
                raise FetchError(f"{source.url}: the download wrote nothing to {part}")
        else:
            download_url(source.url, part, expected_size=source.size, progress=progress, cancel=cancel)
        digest, checked = _check_file(source, part, delete=True)
        move_into_place(part, dest)
    except FetchError:
        raise
    except OSError as exc:
        raise FetchError(f"{dest}: cannot write the download: {exc.strerror or exc}") from None
    return FetchResult(dest, True, dest.stat().st_size, digest, checked)
