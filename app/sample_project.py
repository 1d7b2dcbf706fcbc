"""The sample project: a small synthetic night-time dataset generated on first launch, as a review task.

It gives a new user something real to do without downloading anything: the night images are in
status ``new`` and carry the shipped demo model's proposals (detected on the MSRCR-enhanced
images while the sample is made), so the first thing to do is accept, reject, move and add boxes,
then fine-tune on them. The generated ground truth stays in ``label/``, outside the review: the
window offers it as a labelled set to evaluate against, never as accepted boxes.

Images are generated into a hidden sibling folder and renamed into place; the project database
is made there (its image root is the final path) and the ``.complete`` marker is written last,
so a run killed half-way is never mistaken for a finished sample; a lock file keeps two app
instances from generating (or deleting each other's work) at the same time.
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
from srn.data.lowlight import LowLightParams
from srn.fileio import atomic_write_text

if TYPE_CHECKING:
    from srn.data.synth import SynthConfig

SAMPLE_NAME = "sample-v2"
"""Bump the version when the generator changes, so old samples are not reused."""
SAMPLE_COUNT = 24
SAMPLE_SEED = 2019
SAMPLE_WIDTH, SAMPLE_HEIGHT = 1080, 720
"""DARK FACE's image size, so the sample looks like the real data."""
SAMPLE_CAMERA = LowLightParams(exposure=(22.0, 80.0), full_well=(250.0, 2000.0), read_noise=(0.0015, 0.004))
"""The sample's night camera: darker and noisier than the one the demo model was trained for
(``srn.data.lowlight`` defaults), as real night footage differs from a detector's training data,
so that correcting a few images and fine-tuning has something to teach it."""
PROPOSAL_FLOOR = 0.1
"""Proposals scored below this are not stored: hundreds of near-zero boxes per image would only
inflate the "to review" counts of a newcomer's first project."""
COMPLETE_MARKER = ".complete"
SAMPLE_IMAGES = "night"
"""The sample's image folder that the app opens (``day/`` holds the same scenes in daylight)."""
DATA_DIR_ENV = "DARKFACE_DATA_DIR"
_LOCK_POLL_MS = 200

Progress = Callable[[int, int, str], None]
"""``progress(done, total, stage)``: ``stage`` is ``GENERATING`` then ``DETECTING``."""
GENERATING, DETECTING = "generating images", "detecting faces with the demo model"
Cancel = Callable[[], bool]


def data_dir() -> Path:
    """Where the app keeps its data: ``$DARKFACE_DATA_DIR``, else Qt's per-user app data folder.

    Without a Qt application (a script) the same folder is computed by ``srn.weights.data_dir``,
    which the command line uses too (``srn weights fetch`` puts models there).
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if QCoreApplication.instance() is not None and QCoreApplication.applicationName():
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        if location:
            return Path(location)
    from srn.weights.catalogue import data_dir as shared_data_dir

    return shared_data_dir()


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
    detect: bool = True,
) -> Path:
    """Return the complete sample project under ``base``, generating it first if needed.

    ``progress(done, total, stage)`` reports the images generated, then those detected;
    ``cancel()`` is polled between images: a cancel raises ``srn.data.synth.Cancelled`` and
    leaves no folder that looks complete. ``n``/``seed``/``config`` exist for tests, ``detect``
    for installs without the demo model; the app uses the defaults.
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
                config=config if config is not None else synth.SynthConfig(
                    width=SAMPLE_WIDTH, height=SAMPLE_HEIGHT, lowlight=SAMPLE_CAMERA),
                progress=(lambda done, total: progress(done, total, GENERATING)) if progress else None,
                cancel=cancel,
            )
            _remove_tree(target)  # an incomplete folder at the final name (marker deleted by hand)
            os.replace(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        try:  # the project is made at the final path: the database keeps its image folder's path
            proposals = make_review_project(target / SAMPLE_IMAGES, progress, cancel, synth.Cancelled, detect)
            marker = {"sample": SAMPLE_NAME, "n": n, "seed": seed, "srn_version": srn.__version__,
                      "proposals": proposals}
            atomic_write_text(target / COMPLETE_MARKER, json.dumps(marker, indent=2) + "\n")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target


def make_review_project(images: Path, progress: Progress | None, cancel: Cancel | None,
                        cancelled: type[BaseException], detect: bool = True) -> int:
    """Create the sample's project (images ``new``, the demo model registered, no ground truth as
    boxes) and store the demo model's proposals on the MSRCR-enhanced images; returns their number."""
    from app.project_folder import open_folder_project
    from app.store import add_detections, image_file, start_detection_run
    from app.store.queue import review_queue

    project, _ = open_folder_project(images, import_ground_truth=False)
    with project:
        from app.store.shipped_models import ensure_demo_model

        demo = ensure_demo_model(project) if detect else None
        if demo is None:
            return 0
        from app.jobs.detect_job import run_settings
        from srn.engine.detector import Detector
        from srn.enhance import MSRCRParams
        from srn.imageio import read_image

        detector = Detector.from_checkpoint(demo.checkpoint_path, device="cpu")
        enhance = MSRCRParams()
        settings = {**run_settings(demo.checkpoint_path, demo.checkpoint_sha256, detector, enhance, "single"),
                    "sample_project": True}
        run_id = start_detection_run(project, model_version_id=demo.id, enhanced=True, settings=settings)
        ids = [q.image_id for q in review_queue(project, "path")]
        stored = 0
        for done, image_id in enumerate(ids, start=1):
            if cancel is not None and cancel():
                raise cancelled("cancelled while detecting faces in the sample project")
            det = detector.detect(read_image(image_file(project, image_id)), enhance=enhance)[0]
            stored += add_detections(project, run_id, {image_id: (det.boxes.numpy(), det.scores.numpy())},
                                     min_score=PROPOSAL_FLOOR)
            if progress is not None:
                progress(done, len(ids), DETECTING)
        return stored


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
