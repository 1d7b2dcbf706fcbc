"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Everything that matters (labels, images of a dataset, manifests, checkpoints) is written to a
temporary file in the destination folder, flushed to disk, then renamed over the target. The
file gets the mode a plain ``open(path, "w")`` would give (0666 less the umask), not the 0600
of the temporary file, so the people and services that share a folder can still read it; a
file that is replaced keeps its own mode.

Every output path derived from file content (an image name in a label file, a path in a
project) goes through ``path_inside``, so a name such as ``../../victim.png`` or ``/etc/x``
can never make a writer leave the folder it was asked to write into.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

_umask: int | None = None


def _plain_file_mode() -> int:
    """0666 less the process umask (read once: ``os.umask`` can only be read by setting it)."""
    global _umask
    if _umask is None:
        _umask = os.umask(0o022)
        os.umask(_umask)
    return 0o666 & ~_umask


class UnsafePathError(ValueError):
    """A name from file content that would put an output outside its folder."""


def path_inside(root: str | os.PathLike[str], name: str | os.PathLike[str], what: str = "name") -> Path:
    """``root / name``, refused (``UnsafePathError``) unless it stays inside ``root``.

    Refused: an absolute name, a drive, a ``..`` that climbs out, and a symbolic link inside
    ``root`` that leads out of it (checked on the resolved path).
    """
    rel = Path(name)
    if rel.is_absolute() or rel.drive or rel.anchor:
        raise UnsafePathError(f"{what} {str(name)!r} is an absolute path; names must be relative to {root}")
    base = Path(root).resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"{what} {str(name)!r} leads outside {root}")
    return Path(root) / rel


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777  # replacing a file keeps its mode
    except OSError:
        return _plain_file_mode()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:  # a full disk or a read-only folder: name the file the caller asked for
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextmanager
def staged_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """A folder of outputs written all or nothing: the block writes into a hidden staging folder
    beside ``folder`` (same file system), and its files are moved into ``folder`` only when the
    block succeeds. A full disk or any error midway leaves ``folder`` as it was (an ``OSError``
    then names the file as it would have been in ``folder``). Moving in checks every path
    (``path_inside``: no symbolic link in ``folder`` can take a file elsewhere); a replaced file
    keeps its mode.
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        try:
            yield stage
        except OSError as exc:
            if exc.filename and Path(exc.filename).is_relative_to(stage):
                raise OSError(exc.errno, exc.strerror, str(target / Path(exc.filename).relative_to(stage))) from exc
            raise
        files = sorted(p for p in stage.rglob("*") if p.is_file() or p.is_symlink())
        moves = [(src, path_inside(target, src.relative_to(stage), "output")) for src in files]
        for src, dst in moves:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_file():
                os.chmod(src, dst.stat().st_mode & 0o7777)
            os.replace(src, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temp files ``atomic_write_bytes(path)`` leaves when its process is killed
    mid-write (``.<name>.*.tmp`` beside ``path``); returns what was removed. Call it only where
    no other process can be writing ``path`` at the same time (e.g. a training run's folder)."""
    target = Path(path)
    removed = []
    for stale in target.parent.glob(f".{glob_escape(target.name)}.*.tmp"):
        try:
            stale.unlink()
        except FileNotFoundError:
            continue
        removed.append(stale)
    return removed


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB chunks (checkpoints, images, exports)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically, with ``\\n`` line endings on every platform."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_json_file(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """Parse a JSON file; ``ValueError`` naming the file (and line, for a syntax error) otherwise."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file ({what} expected)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
