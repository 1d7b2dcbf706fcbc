"""Hostile images: decompression bombs, images too small to detect in, corrupt files, name clashes.

Issue 20, items 3 (bombs: refused from the header, before any decode, in every reader), 4 (two
inputs writing one result), 5 (one bad image never ends a run) and part of 14 (a missing weights
file is reported before torch is imported). The bombs are made here: a PNG header claiming a huge
size over a few bytes of data, and a valid PNG of many identical compressed rows.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from srn.imageio import ImageReadError, header_size, read_image, set_max_pixels


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def header_bomb(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A PNG whose header claims ``width × height`` over almost no data (import-images once recorded these)."""
    path.write_bytes(_png(width, height, zlib.compress(b"\x00" * 64)))
    return path


def real_bomb(path: Path, width: int, height: int) -> Path:
    """A valid black RGB PNG of ``width × height``: one compressed row, flushed, repeated."""
    row = b"\x00" * (1 + 3 * width)
    comp = zlib.compressobj(9)
    first = comp.compress(row) + comp.flush(zlib.Z_FULL_FLUSH)  # zlib header + row 1
    again = comp.compress(row) + comp.flush(zlib.Z_FULL_FLUSH)  # the same bytes for every later row
    adler = 1
    for _ in range(height):
        adler = zlib.adler32(row, adler)
    stream = first + again * (height - 1) + b"\x03\x00" + struct.pack(">I", adler)  # empty final block
    path.write_bytes(_png(width, height, stream))
    return path


def _image(path: Path, w: int = 64, h: int = 48, value: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))
    return path


def _srn(*args, limit_bytes: int | None = None, env=None) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "srn", *map(str, args)], capture_output=True, text=True,
                          preexec_fn=limit if limit_bytes else None, env=env, timeout=600)


# ------------------------------------------------------------------------------------------ bombs


def test_read_image_refuses_a_bomb_from_its_header(tmp_path):
    bomb = header_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 200
    assert header_size(bomb) == (60000, 60000)
    with pytest.raises(ImageReadError, match=r"bomb\.png: 60000×60000 = 3,600,000,000 pixels is over the limit "
                                             r"of 100,000,000 .*not decoded"):
        read_image(bomb)


def test_an_image_over_opencvs_own_limit_is_a_message_not_a_crash(tmp_path):
    bomb = header_bomb(tmp_path / "bomb.png")
    with pytest.raises(ImageReadError, match=r"bomb\.png: not a readable image"):
        read_image(bomb, limit=10**12)  # our limit lifted: OpenCV's cv2.error becomes the message


def test_the_pixel_limit_is_one_setting(tmp_path, monkeypatch):
    small = _image(tmp_path / "small.png", 20, 10)
    monkeypatch.setenv("DARKFACE_MAX_PIXELS", "150")
    with pytest.raises(ImageReadError, match="20×10 = 200 pixels is over the limit of 150"):
        read_image(small)
    set_max_pixels(1000)
    try:
        assert read_image(small).shape == (10, 20, 3)
    finally:
        set_max_pixels(None)


def test_enhance_refuses_a_real_bomb_under_a_memory_limit(tmp_path):
    """A valid 2.7 GB-decoding PNG next to a good image, with 1.5 GB of address space: the bomb is
    named and skipped, the good image is enhanced (before: decoded for 39 s, or killed)."""
    _image(tmp_path / "in" / "good.png")
    bomb = real_bomb(tmp_path / "in" / "bomb.png", 30000, 30000)
    done = _srn("enhance", tmp_path / "in", "-o", tmp_path / "out", "--quiet", limit_bytes=1536 << 20)
    assert done.returncode == 1, done.stderr
    assert f"skipped {bomb}: 30000×30000 = 900,000,000 pixels is over the limit" in done.stderr
    assert (tmp_path / "out" / "good.png").is_file() and not (tmp_path / "out" / "bomb.png").exists()
    assert "enhanced 1 of 2 images" in done.stdout


def test_import_images_refuses_a_header_that_claims_a_giant(tmp_path):
    from app.store import Project, import_images

    folder = tmp_path / "images"
    _image(folder / "good.png")
    header_bomb(folder / "giant.png")
    with Project.create(tmp_path / "p.db") as project:
        report = import_images(project, folder)
        assert report.added == 1
        assert [(rel, "over the limit" in reason) for rel, reason in report.problems] == [("giant.png", True)]


def test_a_thumbnail_of_a_bomb_is_none_not_a_decode(tmp_path, qapp):
    from app.ui.image_browser_model import load_thumbnail

    assert load_thumbnail(header_bomb(tmp_path / "bomb.png")) is None
    assert load_thumbnail(_image(tmp_path / "good.png")) is not None


# ------------------------------------------------------------------------------------------ detect


def test_detect_reports_and_skips_every_bad_image(tmp_path):
    """A bomb, a 1×1 PNG and a corrupt file among good images: each is named, the rest are written."""
    folder = tmp_path / "in"
    for name in ("a", "b"):
        _image(folder / f"{name}.png")
    header_bomb(folder / "bomb.png")
    _image(folder / "dot.png", 1, 1)
    (folder / "cut.png").write_bytes((folder / "a.png").read_bytes()[:40])
    out = tmp_path / "out"
    done = _srn("detect", folder, "--weights", "demo", "--out", out, "--format", "darkface", "--device", "cpu",
                "--quiet")
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert "bomb.png: 60000×60000" in done.stderr
    assert "dot.png: too small to detect in (1×1 pixels)" in done.stderr
    assert "cut.png: not a readable image" in done.stderr
    assert "in 2 of 5 images" in done.stdout and "3 failed" in done.stdout


@pytest.mark.parametrize("fmt, names", [("wider", ["x.png", "x.jpg"]), ("darkface", ["a/x.png", "b/x.png"])])
def test_detect_refuses_two_images_that_would_write_one_result(tmp_path, fmt, names):
    """Before: one x.txt written, and 'detected ... in 2 of 2 images'. Now refused before the model loads."""
    for name in names:
        _image(tmp_path / "in" / name)
    out = tmp_path / "out"
    done = _srn("detect", tmp_path / "in", "--weights", "demo", "--out", out, "--format", fmt, "--quiet")
    assert done.returncode == 2
    assert "would both be written as x.txt" in done.stderr
    assert not out.exists()


def test_a_missing_weights_file_is_reported_before_torch_is_imported(tmp_path):
    _image(tmp_path / "a.png")
    code = ("import sys; from srn.cli import main; rc = main(['detect', sys.argv[1], '--weights', sys.argv[2], "
            "'--out', sys.argv[3]]); print('torch' in sys.modules); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.png"), str(tmp_path / "nope.pth"),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 2
    assert "nope.pth: no such checkpoint file" in done.stderr
    assert done.stdout.strip() == "False"


def test_detect_out_that_is_a_file_is_a_usage_error(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "out").write_text("mine\n")
    done = _srn("detect", tmp_path / "a.png", "--weights", "demo", "--out", tmp_path / "out", "--quiet")
    assert done.returncode == 2 and "is a file; --out names the folder" in done.stderr
    assert (tmp_path / "out").read_text() == "mine\n"
