"""tools/screenshots.py renders the real review window to a PNG of the requested size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _load_tool():
    spec = importlib.util.spec_from_file_location("darkface_screenshots", ROOT / "tools" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_review_window_picture_has_the_requested_size_and_content(qapp, tmp_path, capsys):
    tool = _load_tool()
    out, work = tmp_path / "images", tmp_path / "work"
    code = tool.main(["--out", str(out), "--work", str(work), "--only", "review-window",
                      "--size", "800x500", "--image-size", "320x240"])
    printed = capsys.readouterr().out.split()
    assert code == 0
    path = out / "review-window.png"
    assert printed == [str(path)]
    assert sorted(p.name for p in out.iterdir()) == ["review-window.png"]  # no temporary file left

    from PySide6.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    assert (image.width(), image.height()) == (800, 500)
    stride = image.bytesPerLine()
    pixels = np.frombuffer(image.constBits(), np.uint8, count=stride * 500).reshape(500, stride)[:, :800 * 3]
    assert pixels.astype(np.float64).var() > 0
    assert len(np.unique(pixels.reshape(500, 800, 3).reshape(-1, 3), axis=0)) > 50  # a window, not a blank

    # a work folder that holds something else is refused untouched
    (work / "keep.txt").write_text("mine")
    assert tool.main(["--out", str(out), "--work", str(work), "--only", "review-window"]) == 2
    assert (work / "keep.txt").read_text() == "mine"
