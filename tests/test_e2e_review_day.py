"""A reviewer's day, end to end: the real ``ReviewWindow`` on a real project over real files,
driven only by keys and mouse clicks, checked by what the reviewer would see (the image shown,
the list, thumbnails' pixels, notices) and by what the store holds.

Each test reproduces a defect a person met in the window (issue 15) and failed before it was fixed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from app.project_folder import folder_project_path
from app.store import boxes_of, create_box, get_box, image_summaries, record_detections
from app.ui.image_browser_model import THUMB_WIDTH
from app.ui.review_window import ReviewWindow
from tests.gui_gestures import click, drag

W, H = 160, 120
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def _folder(root: Path, n: int = 8, level: int = 30) -> Path:
    """``n`` images 1.png … n.png, each a flat grey of its own level (thumbnails can be told apart)."""
    folder = root / "image"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        assert cv2.imwrite(str(folder / f"{i}.png"), np.full((H, W, 3), level + 4 * i, np.uint8))
    return folder


def _window(qtbot, settings: QSettings) -> ReviewWindow:
    window = ReviewWindow(settings=settings)
    qtbot.addWidget(window)
    window.resize(1200, 700)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    return window


@pytest.fixture
def window(review_window):
    return review_window


def _key(window, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    view = window.views.left
    view.setFocus()
    QTest.keyClick(view, key, modifiers)


def _name(window) -> str | None:
    summary = next((s for s in image_summaries(window.project) if s.id == window.current_image_id), None)
    return None if summary is None else summary.rel_path


def _statuses(window) -> dict[str, str]:
    return {s.rel_path: s.status for s in image_summaries(window.project)}


def _listed(window) -> list[str]:
    panel = window.browser_panel
    return [panel.summary_at(r).rel_path for r in range(panel.row_count())]


def _ids(window) -> dict[str, int]:
    return {s.rel_path: s.id for s in image_summaries(window.project)}


def _show(window, name: str) -> None:
    assert window.browser_panel.select_image(_ids(window)[name])
    assert _name(window) == name


# -- 1. Space over a filtered queue ------------------------------------------------------------

@pytest.mark.parametrize("order", ["Path", "Unreviewed first"])
def test_space_over_a_not_done_queue_visits_every_image_once(qtbot, window, tmp_path, order):
    assert window.open_folder(_folder(tmp_path))
    window.order_box.setCurrentText(order)
    _show(window, "1.png")
    _key(window, Qt.Key.Key_Space)
    _key(window, Qt.Key.Key_Space)  # 1 and 2 done before the filter
    window.browser_panel.status_filter.setCurrentText("Not done")
    _show(window, "3.png")
    seen = [_name(window)]
    for _ in range(10):
        _key(window, Qt.Key.Key_Space)
        if _name(window) == seen[-1]:
            break  # the last one: it stays
        seen.append(_name(window))
    assert seen == [f"{i}.png" for i in range(3, 9)]  # 4.png used to be skipped
    assert set(_statuses(window).values()) == {"done"}
    assert window.notice.text().startswith("That was the last image")


# -- 2. status changes are undoable, settable, and guarded ---------------------------------------

def test_ctrl_z_undoes_a_mistaken_space_and_goes_back_to_that_image(qtbot, window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 4))
    window.browser_panel.status_filter.setCurrentText("Not done")
    _show(window, "2.png")
    _key(window, Qt.Key.Key_Space)
    assert _name(window) == "3.png" and "2.png" not in _listed(window)
    _key(window, Qt.Key.Key_Z, CTRL)
    assert _statuses(window)["2.png"] == "new"
    assert _name(window) == "2.png" and "2.png" in _listed(window)
    assert window.browser_panel.summary_at(window.current_row()).rel_path == "2.png"  # highlighted too
    _key(window, Qt.Key.Key_Z, CTRL | SHIFT)
    assert _statuses(window)["2.png"] == "done"


def test_status_keys_set_skipped_in_progress_and_new(qtbot, window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 4))
    window.order_box.setCurrentText("Path")
    _show(window, "1.png")
    _key(window, Qt.Key.Key_S)  # skipped, and on to the next
    assert _statuses(window)["1.png"] == "skipped" and _name(window) == "2.png"
    _key(window, Qt.Key.Key_P)
    assert _statuses(window)["2.png"] == "in_progress" and _name(window) == "2.png"
    _key(window, Qt.Key.Key_Space)
    _key(window, Qt.Key.Key_A)  # back to 2 (done), then put it back in the queue
    _key(window, Qt.Key.Key_U)
    assert _statuses(window)["2.png"] == "new"
    assert all(window.actions[a] in window.menus["Review"].actions()
               for a in ("mark_done", "mark_skipped", "mark_in_progress", "mark_new"))


def _popup(qtbot) -> QMenu:
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    return QApplication.activePopupWidget()


def _choose(menu: QMenu, text: str) -> None:
    action = next(a for a in menu.actions() if a.text().replace("&", "") == text)
    menu.setActiveAction(action)
    QTest.keyClick(menu, Qt.Key.Key_Return)


def test_right_click_on_the_list_sets_the_status_of_the_selected_images(qtbot, window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 4))
    window.order_box.setCurrentText("Path")
    view = window.browser_panel.view
    rect_of = lambda row: view.visualRect(window.browser_proxy.index(row, 0))  # noqa: E731
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect_of(1).center())
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, CTRL, rect_of(2).center())
    point = rect_of(2).center()
    QApplication.sendEvent(view.viewport(), _context_event(view.viewport(), point))
    _choose(_popup(qtbot), "Mark skipped")
    assert _statuses(window) == {"1.png": "new", "2.png": "skipped", "3.png": "skipped", "4.png": "new"}
    _key(window, Qt.Key.Key_Z, CTRL)  # one step for the selection
    assert set(_statuses(window).values()) == {"new"}


def _context_event(widget, point: QPoint):
    from PySide6.QtGui import QContextMenuEvent

    return QContextMenuEvent(QContextMenuEvent.Reason.Mouse, point, widget.mapToGlobal(point))


def test_right_click_on_the_image_offers_the_status_menu(qtbot, window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 3))
    window.order_box.setCurrentText("Path")
    _show(window, "1.png")
    viewport = window.views.left.viewport()
    QApplication.sendEvent(viewport, _context_event(viewport, viewport.rect().center()))
    _choose(_popup(qtbot), "Mark image skipped and go to the next")
    assert _statuses(window)["1.png"] == "skipped" and _name(window) == "2.png"


def test_done_with_undecided_proposals_says_so_once_without_stopping(qtbot, window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 3))
    window.order_box.setCurrentText("Path")
    ids = _ids(window)
    record_detections(window.project, {ids["1.png"]: (np.array([[10.0, 10, 40, 40]]), np.array([0.9])),
                                       ids["2.png"]: (np.array([[10.0, 10, 40, 40]]), np.array([0.2]))})
    window.reload_browser()
    _show(window, "1.png")
    _key(window, Qt.Key.Key_Space)
    assert _statuses(window)["1.png"] == "done" and _name(window) == "2.png"  # not blocked
    assert window.notice.isVisible() and window.notice.kind() == "warning"
    assert "1 model proposal scored ≥ 0.50 still undecided" in window.notice.text()
    _key(window, Qt.Key.Key_Z, CTRL)  # what the notice suggests
    assert _name(window) == "1.png" and _statuses(window)["1.png"] == "new"
    window.notice.hide()
    _key(window, Qt.Key.Key_Space)  # said once: not again
    assert _statuses(window)["1.png"] == "done" and not window.notice.isVisible()
    _key(window, Qt.Key.Key_Space)  # 2.png: no face, a (hidden, low) proposal: training calls it background
    assert "no faces while the model proposed 1" in window.notice.text()


# -- 3. thumbnails are those of the file named ---------------------------------------------------

def _thumb_level(window, row: int) -> int:
    image = window.browser_model.data(window.browser_model.index(row), Qt.ItemDataRole.DecorationRole)
    return image.pixelColor(THUMB_WIDTH // 4, image.height() // 2).red()


def _all_thumbnails(qtbot, window) -> None:
    model = window.browser_model
    for row in range(model.rowCount()):
        model.data(model.index(row), Qt.ItemDataRole.DecorationRole)  # asks for it, as painting does
    qtbot.waitUntil(lambda: all(model.thumbnail_cached(model.summary(r).id) for r in range(model.rowCount())),
                    timeout=20_000)


@pytest.mark.parametrize("how", ["folder", "recent"])
def test_a_second_project_shows_its_own_thumbnails(qtbot, window, tmp_path, how):
    first, second = _folder(tmp_path / "a", 4, level=20), _folder(tmp_path / "b", 4, level=180)
    assert window.open_folder(second)
    assert window.open_folder(first)
    _all_thumbnails(qtbot, window)
    if how == "folder":
        assert window.open_folder(second)
    else:
        menu = window.recent_menu
        action = next(a for a in menu.actions() if a.text() == str(folder_project_path(second)))
        action.trigger()
    assert window.windowTitle().endswith(str(folder_project_path(second)))
    _all_thumbnails(qtbot, window)
    for row in range(window.browser_model.rowCount()):
        summary = window.browser_model.summary(row)
        expected = int(cv2.imread(str(second / summary.rel_path))[0, 0, 2])
        assert abs(_thumb_level(window, row) - expected) <= 2, summary.rel_path


# -- 4. recent projects and per-project view state ------------------------------------------------

def test_one_recent_project_is_one_entry_with_its_whole_path(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = _window(qtbot, settings)
    assert window.open_folder(_folder(tmp_path))
    window.close()
    settings.sync()
    again = _window(qtbot, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    try:
        location = str(folder_project_path(tmp_path / "image"))
        assert again.recent_projects() == [location]
        assert [a.text() for a in again.recent_menu.actions()] == [location]
    finally:
        again.close()


def test_view_settings_belong_to_their_project_and_it_reopens_as_left(qtbot, tmp_path):
    ini = str(tmp_path / "settings.ini")
    window = _window(qtbot, QSettings(ini, QSettings.Format.IniFormat))
    a, b = _folder(tmp_path / "a"), _folder(tmp_path / "b")
    assert window.open_folder(a)
    window.order_box.setCurrentText("Lowest confidence first")
    window.browser_panel.status_filter.setCurrentText("Not done")
    window.confidence.setValue(30)
    _show(window, "5.png")
    assert window.open_folder(b)  # another project starts from the defaults, not a's settings
    assert (window.order_box.currentText(), window.confidence.value()) == ("Path", 50)
    assert window.browser_panel.status_filter.currentText() == "All images"
    window.confidence.setValue(70)
    assert window.open_folder(a)
    assert window.order_box.currentText() == "Lowest confidence first"
    assert window.browser_panel.status_filter.currentText() == "Not done"
    assert window.confidence.value() == 30 and _name(window) == "5.png"
    window.close()
    again = _window(qtbot, QSettings(ini, QSettings.Format.IniFormat))
    try:
        assert again.open_project(folder_project_path(b))
        assert again.confidence.value() == 70
        assert again.open_project(folder_project_path(a))
        assert _name(again) == "5.png" and again.confidence.value() == 30
    finally:
        again.close()


# -- 5. undo survives a restart ---------------------------------------------------------------------

def test_undo_goes_on_after_a_restart_from_the_edit_log(qtbot, tmp_path):
    ini = str(tmp_path / "settings.ini")
    folder = _folder(tmp_path, 3)
    window = _window(qtbot, QSettings(ini, QSettings.Format.IniFormat))
    assert window.open_folder(folder)
    window.order_box.setCurrentText("Path")
    _show(window, "1.png")
    view = window.views.left
    _key(window, Qt.Key.Key_W)
    drag(view, (20, 20), (60, 60))
    drawn = next(b for b in boxes_of(window.project, _ids(window)["1.png"]) if b.source == "human")
    _key(window, Qt.Key.Key_Right, SHIFT)  # the drawn box is selected: nudge it 10 px
    moved = get_box(window.project, drawn.id).xyxy
    assert moved[0] == pytest.approx(drawn.x1 + 10)
    _key(window, Qt.Key.Key_Space)
    assert _name(window) == "2.png"
    window.close()

    again = _window(qtbot, QSettings(ini, QSettings.Format.IniFormat))
    try:
        assert again.open_project(folder_project_path(folder))
        _key(again, Qt.Key.Key_Z, CTRL)  # the mark done of the last session
        assert _statuses(again)["1.png"] == "new" and _name(again) == "1.png"
        _key(again, Qt.Key.Key_Z, CTRL)  # the nudge
        assert get_box(again.project, drawn.id).xyxy == drawn.xyxy
        _key(again, Qt.Key.Key_Z, CTRL)  # the drawing
        assert get_box(again.project, drawn.id).state == "deleted"
        assert not again.scene.boxes()
        _key(again, Qt.Key.Key_Z, CTRL | SHIFT)
        assert get_box(again.project, drawn.id).state == "accepted" and len(again.scene.boxes()) == 1
    finally:
        again.close()


# -- 6. nudges, N and the draw mode ----------------------------------------------------------------

def _with_boxes(window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 2))
    window.order_box.setCurrentText("Path")
    _show(window, "1.png")
    image_id = window.current_image_id
    human = create_box(window.project, image_id, (20, 20, 49, 49))
    record_detections(window.project, {image_id: (np.array([[90.0, 20, 130, 60]]), np.array([0.9]))})
    window.editor.load(image_id)
    model = next(b for b in window.editor.boxes() if b.source == "model")
    return human, model


def test_shift_arrows_nudge_by_ten_pixels_and_arrows_by_one(qtbot, window, tmp_path):
    human, _ = _with_boxes(window, tmp_path)
    click(window.views.left, (35, 35))
    _key(window, Qt.Key.Key_Right, SHIFT)
    _key(window, Qt.Key.Key_Down, SHIFT)
    _key(window, Qt.Key.Key_Left)
    assert get_box(window.project, human.id).xyxy == (29, 30, 58, 59)


def test_n_rejects_model_boxes_but_not_a_drawn_one(qtbot, window, tmp_path):
    human, model = _with_boxes(window, tmp_path)
    click(window.views.left, (35, 35))
    _key(window, Qt.Key.Key_N)
    assert get_box(window.project, human.id).state == "accepted"
    assert "Del" in window.notice.text()
    click(window.views.left, (110, 40))
    _key(window, Qt.Key.Key_N)
    assert get_box(window.project, model.id).state == "rejected"


def test_draw_mode_is_shown_and_ends_after_a_box_unless_asked_to_stay(qtbot, window, tmp_path):
    human, _ = _with_boxes(window, tmp_path)
    view = window.views.left
    _key(window, Qt.Key.Key_W)
    assert window.draw_toggle.isChecked() and window.tools.isVisible()
    assert view.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    drag(view, (60, 70), (90, 100))
    assert not window.draw_toggle.isChecked() and window.editor.mode() == "select"
    assert view.viewport().cursor().shape() != Qt.CursorShape.CrossCursor
    click(view, (35, 35))  # a click selects again, at once
    assert [b.id for b in window.editor.selected_boxes()] == [human.id]

    window.keep_drawing.setChecked(True)  # Edit → Stay in draw mode after a box
    window.draw_toggle.trigger()  # the toolbar button
    drag(view, (100, 70), (130, 100))
    drag(view, (60, 100), (80, 115))
    assert window.editor.mode() == "draw"
    assert sum(1 for b in window.editor.boxes() if b.source == "human") == 4
    _key(window, Qt.Key.Key_Escape)
    assert not window.draw_toggle.isChecked()


def test_ctrl_d_with_nothing_left_to_review_says_so(qtbot, window, tmp_path):
    assert window.open_folder(_folder(tmp_path, 2))
    window.order_box.setCurrentText("Path")
    _show(window, "1.png")
    _key(window, Qt.Key.Key_Space)
    _key(window, Qt.Key.Key_Space)
    _key(window, Qt.Key.Key_D, CTRL)
    assert "No image is left to review" in window.notice.text()

