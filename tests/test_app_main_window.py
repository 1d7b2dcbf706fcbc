"""The main window on real files: listing, boxes, keyboard navigation, zoom, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.ui.image_list_model import FACE_COUNT_ROLE
from app.ui.main_window import MainWindow
from srn.formats.darkface import write_label

WIDTH, HEIGHT = 160, 120


def _write_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    assert cv2.imwrite(str(path), rng.integers(0, 30, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    return path


def _boxes(count: int) -> np.ndarray:
    return np.array([[10 * i, 5 * i, 10 * i + 8, 5 * i + 11] for i in range(count)], dtype=float)


@pytest.fixture
def dark_face_folder(tmp_path: Path) -> Path:
    """A DARK FACE-like ``image/`` + ``label/`` pair: 1.png (1 face), 2.png (2), 10.png (3)."""
    for name, faces in (("10", 3), ("2", 2), ("1", 1)):
        _write_image(tmp_path / "image" / f"{name}.png")
        write_label(tmp_path / "label" / f"{name}.txt", _boxes(faces))
    return tmp_path / "image"


@pytest.fixture
def window(qtbot, qt_settings) -> MainWindow:
    window = MainWindow(settings=qt_settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()  # shortcuts only fire in the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    return window


def test_open_folder_lists_images_and_draws_their_boxes(window: MainWindow, dark_face_folder: Path) -> None:
    assert window.open_folder(dark_face_folder)
    assert window.model().rowCount() == 3
    assert window.current_path() == dark_face_folder / "1.png"
    assert window.image_view().box_count() == 1
    status = window.status_text()
    assert status.startswith("1.png — ")
    assert f"{WIDTH}×{HEIGHT}" in status and "1 face" in status and status.endswith(" %")
    assert window.windowTitle() == f"DarkFace Studio — {dark_face_folder}"
    assert window.model().index(0, 0).data(FACE_COUNT_ROLE) == 1


def test_keyboard_navigation(qtbot, window: MainWindow, dark_face_folder: Path) -> None:
    window.open_folder(dark_face_folder)
    view = window.image_view()
    qtbot.keyClick(window.image_list(), Qt.Key.Key_D)
    assert window.current_path().name == "2.png"
    assert view.box_count() == 2 and "2 faces" in window.status_text()
    qtbot.keyClick(view, Qt.Key.Key_D)
    assert window.current_path().name == "10.png" and view.box_count() == 3
    qtbot.keyClick(view, Qt.Key.Key_D)  # stays on the last image
    assert window.current_path().name == "10.png"
    qtbot.keyClick(window.image_list(), Qt.Key.Key_A)
    assert window.current_path().name == "2.png"
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert window.current_path().name == "1.png"
    qtbot.keyClick(view, Qt.Key.Key_A)  # stays on the first image
    assert window.current_path().name == "1.png"
    qtbot.keyClick(window.image_list(), Qt.Key.Key_PageDown)
    assert window.current_path().name == "2.png"
    counts = [window.model().index(row, 0).data(FACE_COUNT_ROLE) for row in range(3)]
    assert counts == [1, 2, 3]


def test_fit_and_actual_size_keys(qtbot, window: MainWindow, dark_face_folder: Path) -> None:
    window.open_folder(dark_face_folder)
    view = window.image_view()
    qtbot.keyClick(view, Qt.Key.Key_1)
    assert view.zoom() == 1.0
    assert window.status_text().endswith("— 100 %")
    qtbot.keyClick(view, Qt.Key.Key_F)
    assert view.zoom() != 1.0
    assert window.status_text().endswith(f"— {view.zoom() * 100:.0f} %")


def test_h_toggles_the_boxes(qtbot, window: MainWindow, dark_face_folder: Path) -> None:
    window.open_folder(dark_face_folder)
    view = window.image_view()

    def visible_boxes() -> int:
        return sum(1 for item in view.scene().items() if item.zValue() == 1 and item.isVisible())

    assert visible_boxes() == 1
    qtbot.keyClick(view, Qt.Key.Key_H)
    assert visible_boxes() == 0 and not window.show_boxes_action.isChecked()
    qtbot.keyClick(view, Qt.Key.Key_D)
    assert view.box_count() == 2 and visible_boxes() == 0  # still hidden on the next image
    qtbot.keyClick(view, Qt.Key.Key_H)
    assert visible_boxes() == 2


def test_corrupt_image_is_reported_by_name(qtbot, window: MainWindow, tmp_path: Path) -> None:
    folder = tmp_path / "night"
    _write_image(folder / "1.png")
    corrupt = folder / "2.png"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    _write_image(folder / "3.png")
    window.open_folder(folder)
    window.select_index(1)
    assert window.current_path() == corrupt
    assert str(corrupt) in window.status_text()
    assert "Cannot read image" in window.status_text()
    assert str(corrupt) in window.image_view().message()
    assert not window.image_view().has_image()
    qtbot.keyClick(window.image_view(), Qt.Key.Key_D)  # the app carries on
    assert window.current_path().name == "3.png" and window.image_view().has_image()


def test_malformed_label_is_reported_with_its_line_and_the_image_still_shown(
    window: MainWindow, tmp_path: Path
) -> None:
    _write_image(tmp_path / "image" / "1.png")
    label = tmp_path / "label" / "1.txt"
    label.parent.mkdir()
    label.write_text("3\n1 2 10 20\n")
    window.open_folder(tmp_path / "image")
    assert f"{label}:1:" in window.status_text()
    assert "the count says 3" in window.status_text()
    assert window.image_view().has_image()
    assert window.image_view().box_count() == 0
    assert window.model().index(0, 0).data(FACE_COUNT_ROLE) is None


def test_image_without_label_says_so(window: MainWindow, tmp_path: Path) -> None:
    _write_image(tmp_path / "1.jpg")
    window.open_folder(tmp_path)
    assert "no label file" in window.status_text()
    assert window.image_view().has_image() and window.image_view().box_count() == 0


def test_empty_folder(window: MainWindow, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    assert window.open_folder(tmp_path)
    assert window.model().rowCount() == 0
    assert window.status_text() == f"no images in {tmp_path}"
    assert window.image_view().message() == f"no images in {tmp_path}"
    assert window.current_path() is None


def test_missing_folder_is_reported(window: MainWindow, tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    assert not window.open_folder(missing)
    assert str(missing) in window.status_text()
    assert window.folder() is None


def test_geometry_is_remembered(qtbot, qt_settings) -> None:
    first = MainWindow(settings=qt_settings)
    qtbot.addWidget(first)
    first.resize(700, 500)
    first.show()
    qtbot.waitExposed(first)
    first.close()
    second = MainWindow(settings=qt_settings)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (700, 500)


def test_window_has_the_app_icon(window: MainWindow) -> None:
    assert not window.windowIcon().isNull()
