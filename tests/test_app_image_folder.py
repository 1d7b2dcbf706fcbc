"""Which files of a folder are images, in which order, and where their labels are found."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from app.ui.image_folder import find_label, label_candidates, natural_key, scan_images
from srn.formats.darkface import write_label


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 12, 3), 20, np.uint8))
    return path


def test_natural_sort_puts_2_before_10(tmp_path: Path) -> None:
    for name in ["10.png", "2.png", "1.png", "img2.png", "img10.png", "IMG3.png"]:
        _image(tmp_path / name)
    assert [p.name for p in scan_images(tmp_path)] == [
        "1.png", "2.png", "10.png", "img2.png", "IMG3.png", "img10.png",
    ]


def test_natural_key_orders_numbers_numerically() -> None:
    names = ["a10b", "a2b", "a2a", "b1", "a01b"]
    assert sorted(names, key=natural_key) == ["a01b", "a2a", "a2b", "a10b", "b1"]


def test_scan_keeps_image_extensions_in_any_case_and_nothing_else(tmp_path: Path) -> None:
    names = ["a.png", "b.JPG", "c.jpeg", "d.Bmp", "e.tif", "f.TIFF"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")  # scanning looks at names, not content
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "g.gif").write_bytes(b"x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()
    _image(tmp_path / "sub" / "deep.png")  # not recursive
    assert [p.name for p in scan_images(tmp_path)] == names


def test_scan_of_a_missing_folder_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scan_images(tmp_path / "nope")


def test_label_inside_the_image_folder(tmp_path: Path) -> None:
    image = _image(tmp_path / "imgs" / "7.png")
    label = write_label(tmp_path / "imgs" / "label" / "7.txt", np.array([[1, 2, 3, 4]]))
    assert find_label(image) == label


def test_label_in_sibling_folder_like_dark_face(tmp_path: Path) -> None:
    image = _image(tmp_path / "image" / "12.png")
    label = write_label(tmp_path / "label" / "12.txt", np.zeros((0, 4)))
    assert find_label(image) == label


def test_label_inside_the_folder_wins_over_the_sibling(tmp_path: Path) -> None:
    image = _image(tmp_path / "night" / "3.png")
    inner = write_label(tmp_path / "night" / "label" / "3.txt", np.zeros((0, 4)))
    write_label(tmp_path / "label" / "3.txt", np.zeros((0, 4)))
    assert label_candidates(image)[0] == inner
    assert find_label(image) == inner


def test_image_without_label(tmp_path: Path) -> None:
    image = _image(tmp_path / "image" / "5.png")
    write_label(tmp_path / "label" / "6.txt", np.zeros((0, 4)))  # another image's label
    assert find_label(image) is None
