"""``srn enhance``: files and folders in, enhanced images out, failures reported and counted."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from srn.enhance import MSRCRParams, MSRParams, enhance
from srn.enhance.batch import plan_outputs
from srn.imageio import ImageReadError, read_image


def _run(*args):
    return subprocess.run([sys.executable, "-m", "srn", "enhance", *map(str, args)], capture_output=True, text=True)


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "in"
    (root / "a" / "b").mkdir(parents=True)
    images = {}
    for rel in ("x.png", "a/y.png", "a/b/z.jpg"):
        img = (rng.random((40, 50, 3)) * 40).astype(np.uint8)
        cv2.imwrite(str(root / rel), img[:, :, ::-1])
        images[rel] = read_image(root / rel)  # what the file really holds (JPEG is lossy)
    (root / "notes.txt").write_text("not an image")
    return root, images


def test_folder_is_searched_recursively_and_mirrored(tmp_path, inputs):
    root, images = inputs
    done = _run(root, "-o", tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "enhanced 3 of 3 images with msrcr" in done.stdout
    for rel, image in images.items():
        out = read_image((tmp_path / "out" / rel).with_suffix(".png"))
        np.testing.assert_array_equal(out, enhance(image, MSRCRParams()))
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_unreadable_file_is_reported_skipped_and_fails_the_run(tmp_path, inputs):
    root, _ = inputs
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    done = _run(root, "-o", tmp_path / "out", "--quiet")
    assert done.returncode == 1
    assert f"skipped {root / 'broken.png'}: not a readable image" in done.stderr
    assert "enhanced 3 of 4 images" in done.stdout and "1 failed" in done.stdout
    assert (tmp_path / "out" / "x.png").exists()


def test_method_sigmas_and_preset(tmp_path, inputs):
    root, images = inputs
    assert _run(root / "x.png", "-o", tmp_path / "m", "--method", "msr", "--sigmas", "5,20", "--quiet").returncode == 0
    np.testing.assert_array_equal(read_image(tmp_path / "m" / "x.png"),
                                  enhance(images["x.png"], MSRParams(sigmas=(5.0, 20.0))))
    preset = tmp_path / "p.json"
    preset.write_text(MSRCRParams(sigmas=(4.0, 9.0), low_clip=3.0).to_json())
    assert _run(root / "x.png", "-o", tmp_path / "p", "--preset", preset, "--quiet").returncode == 0
    np.testing.assert_array_equal(
        read_image(tmp_path / "p" / "x.png"), enhance(images["x.png"], MSRCRParams(sigmas=(4.0, 9.0), low_clip=3.0))
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sigmas", "15,abc"], "--sigmas expects comma-separated numbers"),
        (["--sigmas", "0,5"], "sigmas must be >= 1"),
        (["--method", "gamma", "--sigmas", "3"], "--sigmas does not apply to method 'gamma'"),
        (["--device", "cuda:7"], "not available"),
    ],
)
def test_usage_errors_exit_2_with_a_message(tmp_path, inputs, extra, message):
    root, _ = inputs
    done = _run(root, "-o", tmp_path / "out", *extra)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_bad_preset_names_file_and_line(tmp_path, inputs):
    root, _ = inputs
    preset = tmp_path / "bad.json"
    preset.write_text('{\n  "method": "msrcr",\n  "alpha": ,\n}\n')
    done = _run(root, "-o", tmp_path / "out", "--preset", preset)
    assert done.returncode == 2 and f"{preset}:3: not valid JSON" in done.stderr
    preset.write_text(json.dumps({"method": "msrcr", "alpha": -1}))
    done = _run(root, "-o", tmp_path / "out", "--preset", preset)
    assert done.returncode == 2 and "alpha must be >= 1" in done.stderr


def test_missing_input_and_output_collisions(tmp_path, inputs):
    root, _ = inputs
    done = _run(tmp_path / "nope", "-o", tmp_path / "out")
    assert done.returncode == 2 and "no such file or folder" in done.stderr
    (tmp_path / "other").mkdir()
    cv2.imwrite(str(tmp_path / "other" / "x.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="would both be written to"):
        plan_outputs([root / "x.png", tmp_path / "other" / "x.png"], tmp_path / "out", ".png")


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.png: empty file"):
        read_image(tmp_path / "empty.png")


def test_uint16_and_grey_files(tmp_path):
    deep = (np.random.default_rng(1).random((30, 30, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    grey = (np.random.default_rng(2).random((30, 30)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    assert read_image(tmp_path / "deep.png").dtype == np.uint16
    done = _run(tmp_path / "deep.png", tmp_path / "grey.png", "-o", tmp_path / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    assert read_image(tmp_path / "out" / "grey.png").shape == (30, 30, 3)


def test_device_cpu_runs_the_torch_implementation(tmp_path, inputs):
    root, images = inputs
    done = _run(root / "x.png", "-o", tmp_path / "t", "--device", "cpu", "--quiet")
    assert done.returncode == 0, done.stderr
    diff = np.abs(read_image(tmp_path / "t" / "x.png").astype(int) - enhance(images["x.png"], MSRCRParams()))
    assert diff.max() <= 1
