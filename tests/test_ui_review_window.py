"""The review window end to end: a folder becomes a project, boxes are edited with the keyboard and
mouse, every edit is in the store at once, the enhanced view fills in, bad files are survived."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.project_folder import folder_project_path
from app.store import Project, boxes_of, image_summaries
from srn.formats.darkface import write_label

W, H = 160, 120


def _write(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), rng.integers(0, 40, (H, W, 3), dtype=np.uint8))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, (name, faces) in enumerate((("1", 1), ("2", 2), ("10", 0))):
        _write(tmp_path / "image" / f"{name}.png", i)
        if faces:
            write_label(tmp_path / "label" / f"{name}.txt",
                        np.array([[10 + 30 * k, 10, 30 + 30 * k, 40] for k in range(faces)], float))
    return tmp_path / "image"


@pytest.fixture
def window(review_window):
    return review_window


def _names(window) -> list[str]:
    return [window.browser_model.summary(i).rel_path for i in range(window.browser_model.rowCount())]


def test_a_folder_opens_as_a_project_with_its_labels(window, folder):
    assert window.open_folder(folder)
    assert folder_project_path(folder).is_file()
    assert sorted(_names(window)) == ["1.png", "10.png", "2.png"]
    current = window.current_image_id
    assert len(window.scene.boxes()) == {"1.png": 1, "2.png": 2, "10.png": 0}[
        window.browser_model.summary(window.browser_model.row_of(current)).rel_path]
    assert f"{W}×{H}" in window.status_text()


def test_navigation_drawing_undo_and_mark_done_reach_the_store(qtbot, window, folder):
    window.open_folder(folder)
    window.order_box.setCurrentText("Path")
    window.select_row(0)
    first = window.current_image_id
    view = window.views.left
    QTest.keyClick(view, Qt.Key.Key_D)
    assert window.current_image_id != first
    QTest.keyClick(view, Qt.Key.Key_A)
    assert window.current_image_id == first
    before = len(boxes_of(window.project, first))

    QTest.keyClick(view, Qt.Key.Key_W)  # draw mode, then drag on the image
    start, end = view.mapFromScene(60, 60), view.mapFromScene(100, 100)
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(view.viewport(), (start + end) / 2)
    QTest.mouseMove(view.viewport(), end)
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    stored = boxes_of(window.project, first)
    assert len(stored) == before + 1
    drawn = stored[-1]
    assert drawn.source == "human" and abs(drawn.x1 - 60) <= 2 and abs(drawn.y2 - 100) <= 2

    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(boxes_of(window.project, first)) == before  # undone: deleted state, hidden
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert len(boxes_of(window.project, first)) == before + 1

    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Space)  # tap: mark done and go on
    status = {s.id: s.status for s in image_summaries(window.project)}
    assert status[first] == "done" and window.current_image_id != first


def test_enhanced_view_and_histogram_fill_in(qtbot, window, folder):
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.views.enhanced() is not None, timeout=20_000)
    enhanced, original = window.views.enhanced(), window.views.original()
    assert (enhanced.width(), enhanced.height()) == (W, H)  # previews of images narrower than 1280 px are full size

    def mean_grey(image) -> float:
        return float(np.mean([image.pixelColor(x, y).value() for x in range(0, W, 8) for y in range(0, H, 8)]))

    assert mean_grey(enhanced) > mean_grey(original) + 40  # MSRCR brightened the night image
    assert window.views.right.image() is enhanced
    # the histogram shows the enhanced image once the full-resolution result is in (it starts all zero)
    qtbot.waitUntil(lambda: window.histogram.after_curve.getData()[1].sum() > 0.99, timeout=20_000)
    assert len(window.histogram.after_curve.getData()[1]) == 256


def test_a_corrupt_image_is_logged_and_the_app_goes_on(qtbot, window, folder):
    window.open_folder(folder)
    window.order_box.setCurrentText("Path")
    bad = folder / "2.png"
    bad.write_bytes(b"this is not an image")
    row = _names(window).index("2.png")
    window.select_row(row)
    assert str(bad) in window.log_panel.toPlainText()
    assert window.views.original() is None
    QTest.keyClick(window.views.left, Qt.Key.Key_A)  # the app carries on with the neighbour
    assert window.views.original() is not None


def test_help_overlay_lists_the_keymap(qtbot, window, folder):
    window.open_folder(folder)
    window.toggle_help()
    assert window.help.isVisible() and "Mark image done" in window.help.text()
    QTest.keyClick(window.help, Qt.Key.Key_Escape)
    assert not window.help.isVisible()


def test_reopening_keeps_everything_and_recent_projects_are_remembered(qtbot, qt_settings, window, folder):
    window.open_folder(folder)
    assert str(folder_project_path(folder)) in window.recent_projects()
    window.close()
    with Project.open(folder_project_path(folder)) as project:
        assert len(image_summaries(project)) == 3


def test_a_first_launch_on_a_small_screen_is_maximized_with_the_status_bar_on_screen(qtbot, qt_settings):
    from app.ui.review_window import DEFAULT_SIZE, ReviewWindow

    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    avail = window.screen().availableGeometry()
    assert (DEFAULT_SIZE[0] > avail.width() or DEFAULT_SIZE[1] > avail.height())  # offscreen: 800x600
    window.show_on_screen()
    qtbot.waitUntil(lambda: window.isMaximized() and window.height() <= avail.height())
    bar = window.statusBar()
    assert bar.isVisible() and bar.mapTo(window, bar.rect().bottomLeft()).y() < avail.height()


def test_the_menus_end_with_models_then_help(window):
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles[-2:] == ["Models", "Help"] and titles[0] == "File"


def test_a_geometry_saved_on_a_bigger_monitor_opens_inside_this_screen(qtbot, qt_settings):
    from app.ui.review_window import ReviewWindow

    first = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(first)
    first.setGeometry(3000, 200, 2400, 1400)  # a big second monitor, to the right
    first.close()
    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    avail = window.screen().availableGeometry()
    window.show_on_screen()
    qtbot.waitUntil(lambda: window.isVisible())
    qtbot.waitUntil(lambda: window.height() <= avail.height() and window.width() <= avail.width())
    assert window.isMaximized() and avail.contains(window.geometry().center())
    window.close()
