"""A full disk and damaged training files (issue 20, item 10): every writer says which file it
could not write, a folder output is all or nothing (or says exactly what it wrote), and training
names its unreadable images before it starts and skips one that breaks later.

The full disk is real: a 64 KiB tmpfs mounted for the test (skipped where mounting is not
allowed). Everything else runs everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from srn.data.synth import SynthConfig, write_dataset
from srn.fileio import UnsafePathError, atomic_write_text, remove_stale_temps, staged_folder

ROOT = Path(__file__).resolve().parents[1]
ENOSPC = "No space left on device"


def _run(*args, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT,
                          timeout=600)


def _srn(*args, cwd=None):
    return _run("-m", "srn", *args, cwd=cwd)


@pytest.fixture
def full_disk(tmp_path) -> Path:
    """A folder on a 64 KiB file system: the first few files fit, then ENOSPC."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """30 small synthetic images with DARK FACE labels: more than fits on ``full_disk``."""
    return write_dataset(tmp_path_factory.mktemp("synth"), 30, seed=5, config=SynthConfig(width=160, height=120))


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------ staged folders


def test_a_staged_folder_appears_only_when_every_write_succeeded(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("before")
    with pytest.raises(OSError) as raised:
        with staged_folder(out) as stage:
            atomic_write_text(stage / "a.txt", "a")
            raise OSError(28, ENOSPC, str(stage / "sub" / "b.txt"))
    assert raised.value.filename == str(out / "sub" / "b.txt")  # named as it would have been in OUT
    assert _left_in(out) == ["keep.txt"] and _left_in(tmp_path) == ["out"]  # no staging folder left

    os.chmod(out / "keep.txt", 0o640)
    with staged_folder(out) as stage:
        atomic_write_text(stage / "keep.txt", "after")
        atomic_write_text(stage / "sub" / "b.txt", "b")
    assert (out / "keep.txt").read_text() == "after" and (out / "sub" / "b.txt").read_text() == "b"
    assert (out / "keep.txt").stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    assert _left_in(tmp_path) == ["out"]


def test_a_staged_folder_never_follows_a_link_out_of_its_folder(tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    (out / "sub").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="leads outside"):
        with staged_folder(out) as stage:
            atomic_write_text(stage / "sub" / "x.txt", "x")
    assert _left_in(victim) == []


@pytest.mark.slow
def test_partial_checkpoints_of_a_killed_run_are_removed_by_the_next_run(tmp_path, data):
    run = tmp_path / "run"
    run.mkdir()
    stale = run / ".last.pth.k1ll3d.tmp"  # what atomic_write_bytes leaves when killed mid-write
    stale.write_bytes(b"PK\x03\x04 half a checkpoint")
    other = run / "notes.tmp"
    other.write_text("mine")
    assert remove_stale_temps(run / "last.pth") == [stale] and other.exists()

    stale.write_bytes(b"PK\x03\x04 half a checkpoint")
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"data": [{"type": "darkface", "labels": str(data / "label"),
                                            "images": str(data / "night")}], "backbone": "resnet18",
                                  "channels": 16, "size": 64, "batch_size": 2, "max_iters": 1, "workers": 0,
                                  "device": "cpu", "warmup_iters": 0}))
    done = _srn("train", "--config", config, "--out", run)
    assert done.returncode == 0, done.stderr
    assert "a partial checkpoint left by a stopped run" in done.stderr
    assert sorted(p.name for p in run.iterdir()) == ["final.pth", "last.pth", "notes.tmp"]


# ------------------------------------------------------------------------------ the full disk


@pytest.mark.parametrize("fmt", ["yolo", "darkface", "voc"])
def test_convert_onto_a_full_disk_leaves_nothing_half_written(full_disk, data, fmt):
    out = full_disk / "converted"
    done = _srn("convert", "--from", "darkface", "--to", fmt, data / "label", out, "--images", data / "night")
    assert done.returncode == 1, done.stdout
    assert f"srn convert: cannot write {out}/" in done.stderr and ENOSPC in done.stderr
    assert "Traceback" not in done.stderr
    assert _left_in(full_disk) == []  # neither the output nor a staging folder


def test_synth_onto_a_full_disk_leaves_nothing_half_written(full_disk):
    out = full_disk / "synth"
    done = _srn("synth", out, "--n", "10", "--width", "160", "--height", "120", "--quiet")
    assert done.returncode == 1 and f"srn synth: cannot write {out}/" in done.stderr and ENOSPC in done.stderr
    assert _left_in(full_disk) == []


def test_enhance_onto_a_full_disk_stops_and_says_what_it_wrote(full_disk, data):
    out = full_disk / "enhanced"
    done = _srn("enhance", data / "night", "--out", out, "--quiet")
    assert done.returncode == 1
    written = len(list(out.glob("*.png")))
    assert f"stopped after writing {written} of 30 images into {out}" in done.stderr and ENOSPC in done.stderr
    assert done.stderr.count(ENOSPC) == 1  # one message, not one per remaining image


def test_detect_onto_a_full_disk_says_what_it_wrote(full_disk, data, confident_checkpoint):
    out = full_disk / "detections"
    done = _srn("detect", data / "night", "--weights", confident_checkpoint, "--out", out, "--format", "darkface",
                "--device", "cpu", "--quiet")
    assert done.returncode == 1
    written = len(list(out.glob("*.txt")))
    assert f"stopped after writing {written} result files into {out}" in done.stderr and ENOSPC in done.stderr


@pytest.mark.slow
def test_train_onto_a_full_disk_names_the_checkpoint_and_leaves_no_partial_file(full_disk, data, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"data": [{"type": "darkface", "labels": str(data / "label"),
                                            "images": str(data / "night")}], "backbone": "resnet18",
                                  "channels": 16, "size": 64, "batch_size": 2, "max_iters": 1, "workers": 0,
                                  "device": "cpu", "warmup_iters": 0}))
    out = full_disk / "run"
    done = _srn("train", "--config", config, "--out", out)
    assert done.returncode == 1
    assert f"srn train: cannot write {out / 'last.pth'}: {ENOSPC}" in done.stderr and "Traceback" not in done.stderr
    assert not [p for p in full_disk.rglob("*") if p.is_file()]


def test_a_folder_export_onto_a_full_disk_leaves_nothing_half_written(full_disk, data, tmp_path):
    from app.store import Project, import_images, import_labels
    from app.store.export import export_darkface

    with Project.create(tmp_path / "p.db") as project:
        import_images(project, data / "night")
        import_labels(project, data / "label", "darkface")  # marks the images done
        out = full_disk / "labels"
        with pytest.raises(OSError) as raised:
            export_darkface(project, out)
        assert raised.value.filename.startswith(f"{out}/") and raised.value.strerror == ENOSPC
    assert _left_in(full_disk) == []


# ------------------------------------------------------------------------------ training images


def _train_config(tmp_path: Path, images: Path, labels: Path) -> Path:
    config = tmp_path / f"{uuid.uuid4().hex}.json"
    config.write_text(json.dumps({"data": [{"type": "darkface", "labels": str(labels), "images": str(images)}],
                                  "backbone": "resnet18", "channels": 16, "size": 64, "batch_size": 2,
                                  "max_iters": 4, "workers": 0, "device": "cpu", "warmup_iters": 0}))
    return config


def _copy(data: Path, tmp_path: Path) -> Path:
    images = tmp_path / "night"
    images.mkdir()
    for i in range(1, 7):
        (images / f"{i}.png").write_bytes((data / "night" / f"{i}.png").read_bytes())
    labels = tmp_path / "label"
    labels.mkdir()
    for i in range(1, 7):
        (labels / f"{i}.txt").write_text((data / "label" / f"{i}.txt").read_text())
    return images


@pytest.mark.slow
def test_unreadable_training_images_are_all_named_before_training(tmp_path, data):
    images = _copy(data, tmp_path)
    (images / "2.png").write_bytes(b"garbage, not a png")
    (images / "5.png").write_bytes(b"")
    done = _srn("train", "--config", _train_config(tmp_path, images, tmp_path / "label"), "--out", tmp_path / "run")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "2 training image(s) cannot be read (fix or remove them; nothing was trained)" in done.stderr
    assert f"{images / '2.png'}:" in done.stderr and f"{images / '5.png'}:" in done.stderr
    assert not (tmp_path / "run" / "last.pth").exists()


@pytest.mark.slow
def test_an_image_damaged_past_its_header_is_skipped_with_one_warning(tmp_path, data):
    images = _copy(data, tmp_path)
    whole = (images / "3.png").read_bytes()
    (images / "3.png").write_bytes(whole[:120])  # the header (and size) survive, the pixels do not
    done = _srn("train", "--config", _train_config(tmp_path, images, tmp_path / "label"), "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "skipped an image that cannot be read" in line]
    assert len(warnings) == 1 and str(images / "3.png") in warnings[0]
    assert (tmp_path / "run" / "final.pth").is_file()
    losses = [json.loads(line)["total"] for line in done.stdout.splitlines() if '"total"' in line]
    assert losses and np.isfinite(losses).all()
