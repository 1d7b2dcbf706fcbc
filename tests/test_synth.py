"""Synthetic night-face data: deterministic, well-labelled, dark like DARK FACE."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from srn.data import synth
from srn.data.synth import Cancelled, SynthConfig, make_sample, write_dataset
from srn.formats import darkface, wider

SMALL = SynthConfig(width=320, height=214)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, n=6, seed=11, config=SMALL)
    return out


def _read_rgb(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image[:, :, ::-1]


def test_layout_and_manifest(dataset):
    names = sorted(p.name for p in (dataset / "night").iterdir())
    assert names == [f"{i}.png" for i in range(1, 7)]
    assert sorted(p.name for p in (dataset / "day").iterdir()) == names
    assert sorted(p.name for p in (dataset / "label").iterdir()) == [f"{i}.txt" for i in range(1, 7)]
    manifest = json.loads((dataset / synth.MANIFEST_FILE).read_text())
    assert (manifest["seed"], manifest["n"], manifest["config"]["width"]) == (11, 6, 320)
    assert [img["id"] for img in manifest["images"]] == list(range(1, 7))
    assert not list(dataset.rglob("*.tmp")), "no temporary files are left behind"


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = (write_dataset(tmp_path / name, n=2, seed=s, config=SMALL) for name, s in (("a", 5), ("b", 5), ("c", 6)))
    for sub in ("day/1.png", "night/2.png", "label/1.txt", "wider_face_gt.txt"):
        assert (a / sub).read_bytes() == (b / sub).read_bytes(), sub
    assert (a / "night/1.png").read_bytes() != (c / "night/1.png").read_bytes()


def test_image_depends_only_on_seed_and_index():
    long_run = make_sample(3, 7, SMALL)
    again = make_sample(3, 7, SMALL)
    np.testing.assert_array_equal(long_run.night, again.night)
    np.testing.assert_array_equal(long_run.boxes, again.boxes)


def test_labels_parse_back_to_generated_boxes(dataset):
    gt = {r.name: r for r in wider.read_gt(dataset / synth.GT_FILE)}
    assert sorted(gt) == sorted(f"{i}.png" for i in range(1, 7))
    for i in range(1, 7):
        sample = make_sample(11, i, SMALL)
        from_darkface = darkface.read_label(dataset / "label" / f"{i}.txt")
        np.testing.assert_array_equal(from_darkface, sample.boxes)
        np.testing.assert_array_equal(wider.xywh_to_xyxy(gt[f"{i}.png"].boxes), sample.boxes)
        np.testing.assert_array_equal(gt[f"{i}.png"].attributes[:, 0], sample.blur)


def test_written_images_are_the_generated_ones(dataset):
    sample = make_sample(11, 3, SMALL)
    np.testing.assert_array_equal(_read_rgb(dataset / "day" / "3.png"), sample.day)
    np.testing.assert_array_equal(_read_rgb(dataset / "night" / "3.png"), sample.night)


@pytest.mark.parametrize("index", range(1, 25))
def test_every_box_lies_inside_its_image_and_covers_a_face(index):
    config = SynthConfig(width=240, height=160)
    sample = make_sample(0, index, config)
    assert 1 <= len(sample.boxes) <= config.faces[1]
    x1, y1, x2, y2 = sample.boxes.T
    assert (x1 >= 0).all() and (y1 >= 0).all()
    assert (x2 <= config.width - 1).all() and (y2 <= config.height - 1).all()
    assert (x2 >= x1).all() and (y2 >= y1).all()
    heights = y2 - y1 + 1
    assert heights.min() >= 8, "faces are at least ~12 px tall (minus the soft edge)"


def test_faces_are_visible_in_the_day_image():
    """Pasting really changed the pixels inside every box (no phantom labels)."""
    config = SynthConfig(width=320, height=214)
    for index in range(1, 6):
        sample = make_sample(1, index, config)
        plain = synth._background(np.random.default_rng([1, index]), config.width, config.height)
        for x1, y1, x2, y2 in sample.boxes:
            inside = np.abs(sample.day[y1 : y2 + 1, x1 : x2 + 1].astype(float) - plain[y1 : y2 + 1, x1 : x2 + 1])
            assert inside.mean() > 3.0


def test_night_mean_brightness_is_in_dark_face_range():
    means = [make_sample(2, i, SMALL).night.mean() for i in range(1, 41)]
    assert 5.0 <= min(means) and max(means) <= 40.0, (min(means), max(means))
    assert max(means) - min(means) > 10.0, "exposure varies from image to image"


def test_day_and_night_share_boxes_and_differ_in_light():
    sample = make_sample(4, 1, SMALL)
    assert sample.day.mean() > 2.5 * sample.night.mean()
    assert sample.day.shape == sample.night.shape == (SMALL.height, SMALL.width, 3)


def test_progress_and_cancel(tmp_path):
    seen = []
    write_dataset(tmp_path / "p", n=3, seed=0, config=SMALL, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    calls = iter([False, True])
    with pytest.raises(Cancelled):
        write_dataset(tmp_path / "c", n=5, seed=0, config=SMALL, cancel=lambda: next(calls))
    assert not (tmp_path / "c" / synth.MANIFEST_FILE).exists(), "an interrupted run has no manifest"
    assert sorted(p.name for p in (tmp_path / "c" / "night").iterdir()) == ["1.png"]


@pytest.mark.parametrize(
    "kwargs",
    [dict(width=10, height=100), dict(faces=(0, 3)), dict(face_height=(50, 20)), dict(distractors=(3, 1))],
)
def test_invalid_config_is_rejected(kwargs):
    with pytest.raises(ValueError):
        SynthConfig(**kwargs)


def test_cli_writes_dataset_and_refuses_non_empty_folder(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "srn", "synth", str(out), "--n", "2", "--seed", "9", "--width", "200",
           "--height", "150"]
    done = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote 2 day/night image pairs" in done.stdout
    config = SynthConfig(width=200, height=150)
    np.testing.assert_array_equal(_read_rgb(out / "night" / "2.png"), make_sample(9, 2, config).night)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "not empty" in again.stderr
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "x"), "--n", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--n must be at least 1" in bad.stderr
