"""The sample project: a small synthetic night-time dataset generated on first launch.

It gives a new user something real to look at without downloading DARK FACE. Generation goes
into a hidden sibling folder and is renamed into place only once complete, with a ``.complete``
marker, so a run killed half-way is never mistaken for a finished sample; a lock file keeps two
app instances from generating (or deleting each other's work) at the same time.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QLockFile, QStandardPaths

import srn
from srn.fileio import atomic_write_text

if TYPE_CHECKING:
    from srn.data.synth import SynthConfig

SAMPLE_NAME = "sample-v1"
"""Bump the version when the generator changes, so old samples are not reused."""
SAMPLE_COUNT = 24
SAMPLE_SEED = 2019
SAMPLE_WIDTH, SAMPLE_HEIGHT = 1080, 720
"""DARK FACE's image size, so the sample looks like the real data."""
COMPLETE_MARKER = ".complete"
SAMPLE_IMAGES = "night"
"""The sample's image folder that the app opens (``day/`` holds the same scenes in daylight)."""
DATA_DIR_ENV = "DARKFACE_DATA_DIR"
_LOCK_POLL_MS = 200

Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


def data_dir() -> Path:
    """Where the app keeps its data: ``$DARKFACE_DATA_DIR``, else Qt's per-user app data folder.

    Falls back to ``~/.local/share/darkface-studio`` when no Qt application (hence no app name)
    exists, e.g. in a script.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if QCoreApplication.instance() is not None and QCoreApplication.applicationName():
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        if location:
            return Path(location)
    return Path.home() / ".local" / "share" / "darkface-studio"


def sample_project_dir(base: str | os.PathLike[str]) -> Path:
    """The sample project folder inside the data folder ``base``."""
    return Path(base) / SAMPLE_NAME


def is_complete(directory: str | os.PathLike[str]) -> bool:
    """True when ``directory`` holds a fully generated sample (its marker is written last)."""
    return (Path(directory) / COMPLETE_MARKER).is_file()


def ensure_sample_project(
    base: str | os.PathLike[str],
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    *,
    n: int = SAMPLE_COUNT,
    seed: int = SAMPLE_SEED,
    config: SynthConfig | None = None,
) -> Path:
    """Return the complete sample project under ``base``, generating it first if needed.

    ``progress(done, total)`` and ``cancel()`` are passed to the generator; a cancel raises
    ``srn.data.synth.Cancelled`` and leaves no folder that looks complete. ``n``/``seed``/
    ``config`` exist for tests; the app uses the defaults.
    """
    from srn.data import synth  # the generator is only needed on first launch

    target = sample_project_dir(base)
    if is_complete(target):
        return target
    Path(base).mkdir(parents=True, exist_ok=True)
    with _lock(Path(base) / f".{SAMPLE_NAME}.lock", cancel, synth.Cancelled):
        if is_complete(target):  # another instance finished it while we waited
            return target
        partial = Path(base) / f".{SAMPLE_NAME}.partial"
        _remove_tree(partial)  # left over by a run that was killed
        try:
            synth.write_dataset(
                partial,
                n=n,
                seed=seed,
                config=config if config is not None else synth.SynthConfig(width=SAMPLE_WIDTH, height=SAMPLE_HEIGHT),
                progress=progress,
                cancel=cancel,
            )
            marker = {"sample": SAMPLE_NAME, "n": n, "seed": seed, "srn_version": srn.__version__}
            atomic_write_text(partial / COMPLETE_MARKER, json.dumps(marker, indent=2) + "\n")
            _remove_tree(target)  # an incomplete folder at the final name (marker deleted by hand)
            os.replace(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return target


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def _lock(path: Path, cancel: Cancel | None, cancelled: type[BaseException]) -> Iterator[None]:
    """Hold a ``QLockFile`` (stale locks of dead processes are taken over), polling ``cancel``."""
    lock = QLockFile(str(path))
    lock.setStaleLockTime(0)  # a long generation is not stale; a dead owner still is
    while not lock.tryLock(_LOCK_POLL_MS):
        if lock.error() != QLockFile.LockError.LockFailedError:
            raise OSError(f"cannot create the lock file {path} ({lock.error().name})")
        if cancel is not None and cancel():
            raise cancelled("cancelled while another instance was generating the sample project")
    try:
        yield
    finally:
        lock.unlock()
