"""The Box list in a real ``ReviewWindow`` on a real SQLite project, driven by mouse and keys.

The window does not hold the list yet (its owner places it), so each test adds it as a tab the
way the window will. Checks are on what a reviewer sees (row texts, the views' visible region,
which boxes are selected in the scene) and on what the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.store import create_box, delete_box, get_box, image_summaries, record_detections, set_box_state
from app.ui.box_list import BOX_ID_ROLE, COLUMNS, BoxList
from app.ui.review_window import ReviewWindow
from app.ui.run_picker import ALL, LATEST
from tests.gui_gestures import click

W, H = 800, 600
CTRL = Qt.KeyboardModifier.ControlModifier
NONE = Qt.KeyboardModifier.NoModifier


@dataclass
class Scene:
    window: ReviewWindow
    box_list: BoxList
    ids: dict[str, int]
    """Box ids by name (see ``scene``)."""
    images: dict[str, int]
    runs: dict[str, int]


def _images(root: Path) -> Path:
    """Two textured images (a flat one would look the same at every scroll position)."""
    folder = root / "image"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        assert cv2.imwrite(str(folder / name), rng.integers(0, 60, (H, W, 3), dtype=np.uint8))
    return folder


@pytest.fixture
def scene(review_window, tmp_path) -> Scene:
    """Image a: two human boxes (one deleted), four model boxes of one run (0.91, 0.75 rejected, 0.62,
    0.30 below the min score 0.50), a pseudo box of another run (0.55); image b: one human box."""
    window = review_window
    assert window.open_folder(_images(tmp_path))
    images = {s.rel_path: s.id for s in image_summaries(window.project)}
    project, a = window.project, images["a.png"]
    human = create_box(project, a, (40, 40, 79, 99))
    gone = create_box(project, a, (600, 400, 639, 439))
    delete_box(project, gone.id, gone.version)
    model_run = record_detections(project, {a: (np.array([[200.0, 100, 239, 139], [500, 50, 559, 109],
                                                          [400, 300, 449, 339], [100, 300, 129, 329]]),
                                                np.array([0.91, 0.75, 0.62, 0.30]))})
    pseudo_run = record_detections(project, {a: (np.array([[300.0, 200, 339, 249]]), np.array([0.55]))},
                                   source="pseudo")
    create_box(project, images["b.png"], (10, 10, 29, 39))
    window.show_image(a)  # what a detection finishing on the shown image does: the editor reloads it
    by_score = {round(b.score, 2): b for b in window.editor.boxes() if b.score is not None}
    rejected = by_score[0.75]
    set_box_state(project, rejected.id, rejected.version, "rejected")
    window.show_image(a)
    window.run_picker.choose(ALL)  # both runs' proposals (the window shows the latest run's by default)
    box_list = window.box_list  # the window's Boxes tab
    assert isinstance(box_list, BoxList)
    window.show_panel(box_list)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Boxes" and box_list.isVisible()
    assert window.views.active().is_fitted() and window.scene.confidence_threshold() == 0.5
    ids = {"human": human.id, "deleted": gone.id, "m91": by_score[0.91].id, "m75": rejected.id,
           "m62": by_score[0.62].id, "m30": by_score[0.30].id, "p55": by_score[0.55].id}
    return Scene(window, box_list, ids, images, {"model": model_run, "pseudo": pseudo_run})


# -- helpers ----------------------------------------------------------------------------------

def rows(box_list: BoxList) -> list[tuple[str, ...]]:
    """Every row's texts, as shown."""
    model = box_list.model
    return [tuple(model.data(model.index(r, c)) for c in range(len(COLUMNS))) for r in range(model.rowCount())]


def listed_ids(box_list: BoxList) -> list[int]:
    model = box_list.model
    return [model.data(model.index(r, 0), BOX_ID_ROLE) for r in range(model.rowCount())]


def row_point(box_list: BoxList, box_id: int) -> QPoint:
    row = listed_ids(box_list).index(box_id)
    return box_list.table.visualRect(box_list.model.index(row, 1)).center()


def click_row(box_list: BoxList, box_id: int, modifiers=NONE) -> None:
    QTest.mouseClick(box_list.table.viewport(), Qt.MouseButton.LeftButton, modifiers, row_point(box_list, box_id))


def click_header(box_list: BoxList, column: str) -> None:
    header = box_list.table.horizontalHeader()
    section = COLUMNS.index(column)
    x = header.sectionViewportPosition(section) + header.sectionSize(section) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, NONE, QPoint(x, header.height() // 2))


def selected_in_scene(window: ReviewWindow) -> list[int]:
    return [b.id for b in window.editor.selected_boxes()]


def selected_rows(box_list: BoxList) -> list[int]:
    return sorted(box_list.model.data(i, BOX_ID_ROLE) for i in box_list.table.selectionModel().selectedRows())


def centre(box) -> tuple[float, float]:
    return (box.x1 + box.x2 + 1) / 2, (box.y1 + box.y2 + 1) / 2


def shown_in_views(window: ReviewWindow) -> set[int]:
    return {item.box.id for item in window.scene.box_items() if item.isVisible()}


# -- what is listed ---------------------------------------------------------------------------

def test_rows_show_state_source_run_score_and_size_sorted_by_score_humans_last(scene):
    model_run, pseudo_run = f"run {scene.runs['model']}", f"run {scene.runs['pseudo']}"
    assert rows(scene.box_list) == [
        ("1", "proposed", "model", model_run, "0.91", "40×40"),
        ("2", "rejected", "model", model_run, "0.75", "60×60"),
        ("3", "proposed", "model", model_run, "0.62", "50×40"),
        ("4", "proposed", "pseudo", pseudo_run, "0.55", "40×50"),
        ("5", "accepted", "human", "", "", "40×60"),
    ]
    ids = scene.ids
    assert listed_ids(scene.box_list) == [ids["m91"], ids["m75"], ids["m62"], ids["p55"], ids["human"]]
    assert scene.box_list.footer.text() == "5 boxes · 1 hidden below min score 0.50"
    model = scene.box_list.model
    assert model.data(model.index(1, 1), Qt.ItemDataRole.ForegroundRole) is not None  # rejected: greyed
    assert model.data(model.index(0, 1), Qt.ItemDataRole.ForegroundRole) is None


def test_clicking_headers_sorts_and_keeps_the_selection_on_its_box(scene):
    box_list, ids = scene.box_list, scene.ids
    click_row(box_list, ids["m62"])
    click_header(box_list, "score")  # already score, largest first: now smallest first, humans first
    assert listed_ids(box_list) == [ids["human"], ids["p55"], ids["m62"], ids["m75"], ids["m91"]]
    assert [r[0] for r in rows(box_list)] == ["1", "2", "3", "4", "5"]  # # is the row
    click_header(box_list, "size")  # first click: largest first
    assert listed_ids(box_list) == [ids["m75"], ids["human"], ids["m62"], ids["p55"], ids["m91"]]
    click_header(box_list, "source")
    assert [r[2] for r in rows(box_list)] == ["human", "model", "model", "model", "pseudo"]
    assert selected_rows(box_list) == [ids["m62"]] == selected_in_scene(scene.window)


def test_min_score_hides_in_the_list_what_it_hides_in_the_views(qtbot, scene):
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    assert set(listed_ids(box_list)) == shown_in_views(window)
    click_row(box_list, ids["p55"])
    window.confidence.setValue(60)  # the status bar's min-score slider
    assert set(listed_ids(box_list)) == shown_in_views(window) == {ids["human"], ids["m91"], ids["m75"], ids["m62"]}
    assert box_list.footer.text() == "4 boxes · 2 hidden below min score 0.60"
    assert selected_in_scene(window) == [] == selected_rows(box_list)  # the hidden box is not selected anywhere
    window.confidence.setValue(0)
    assert set(listed_ids(box_list)) == shown_in_views(window) and len(listed_ids(box_list)) == 6
    assert box_list.footer.text() == "6 boxes"
    window.actions["toggle_boxes"].trigger()  # H: the views hide every box, so does the list, and says so
    assert shown_in_views(window) == set() == set(listed_ids(box_list))
    assert box_list.footer.text() == "6 boxes hidden in the views (H shows them)"
    window.actions["toggle_boxes"].trigger()
    assert set(listed_ids(box_list)) == shown_in_views(window) and len(listed_ids(box_list)) == 6


def test_the_run_picker_hides_in_the_list_what_it_hides_in_the_views(qtbot, scene):
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    window.run_picker.choose(LATEST)  # the pseudo run: the model run's undecided proposals are hidden
    assert window.scene.shown_run() == scene.runs["pseudo"]
    assert set(listed_ids(box_list)) == shown_in_views(window) == {ids["p55"], ids["m75"], ids["human"]}
    assert box_list.footer.text() == "3 boxes · 3 proposals of other runs hidden (run picker)"
    window.run_picker.choose(scene.runs["model"])
    assert set(listed_ids(box_list)) == shown_in_views(window) == {ids["m91"], ids["m75"], ids["m62"], ids["human"]}
    assert box_list.footer.text() == "4 boxes · 1 hidden below min score 0.50 · 1 proposal of other runs hidden " \
                                     "(run picker)"


def test_showing_another_image_or_new_detections_refreshes_the_rows(qtbot, scene):
    window, box_list = scene.window, scene.box_list
    assert window.browser_panel.select_image(scene.images["b.png"])
    assert rows(box_list) == [("1", "accepted", "human", "", "", "20×30")]
    record_detections(window.project, {scene.images["b.png"]: (np.array([[50.0, 50, 69, 89]]), np.array([0.8]))})
    window.editor.load(scene.images["b.png"])  # what the window does when a detection run reaches the shown image
    assert [r[1:] for r in rows(box_list)] == [("proposed", "model", f"run {scene.runs['pseudo'] + 1}", "0.80",
                                                "20×40"), ("accepted", "human", "", "", "20×30")]
    assert window.browser_panel.select_image(scene.images["a.png"])
    assert len(rows(box_list)) == 5 and box_list.footer.text().startswith("5 boxes")


# -- selection, both ways ---------------------------------------------------------------------

def test_selection_follows_clicks_on_rows_and_on_the_view(qtbot, scene):
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    click_row(box_list, ids["m62"])
    assert selected_in_scene(window) == [ids["m62"]] and window.scene.item_for(ids["m62"]).isSelected()
    click_row(box_list, ids["human"], CTRL)
    assert selected_in_scene(window) == sorted([ids["m62"], ids["human"]])
    assert window.attributes.box() is None  # the Box panel shows one box only
    changes = []
    window.editor.selection_changed.connect(lambda box: changes.append(box and box.id))
    click(window.views.left, centre(get_box(window.project, ids["m91"])))
    assert selected_in_scene(window) == [ids["m91"]] == selected_rows(box_list)
    assert changes == [ids["m91"]]  # the rows followed without selecting it in the scene again (no echo)
    current = box_list.table.selectionModel().currentIndex()
    assert box_list.model.data(current, BOX_ID_ROLE) == ids["m91"]
    click_row(box_list, ids["p55"])
    assert selected_in_scene(window) == [ids["p55"]] == selected_rows(box_list)
    assert window.attributes.box().id == ids["p55"]
    click(window.views.left, (700, 550))  # empty image: nothing selected, in both
    assert selected_in_scene(window) == [] == selected_rows(box_list)


def test_select_next_cycles_in_list_order_and_centres_the_box_when_zoomed(qtbot, scene):
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    views = window.views
    order = [ids["m91"], ids["m75"], ids["m62"], ids["p55"], ids["human"]]
    fitted = views.left.transform()
    assert [box_list.select_next(1) for _ in range(6)] == [*order, order[0]]  # from nothing, wrapping
    assert selected_in_scene(window) == [order[0]] == selected_rows(box_list)
    assert views.left.is_fitted() and views.left.transform() == fitted  # fitted: no zoom, no scroll
    assert box_list.select_next(-1) == order[-1]  # wraps back
    assert box_list.select_next(-1) == order[-2]
    views.zoom_by(6)
    zoom = views.zoom()
    visible = views.left.visible_scene_rect()
    half_w, half_h = visible.width() / 2, visible.height() / 2
    assert half_w < 200 and half_h < 200  # zoomed in enough for scrolling to show
    for box_id in [order[-1], *order[:3]]:
        assert box_list.select_next(1) == box_id
        box = get_box(window.project, box_id)
        cx, cy = centre(box)
        want = (min(max(cx, half_w), W - half_w), min(max(cy, half_h), H - half_h))  # the view stops at the edge
        for view in views.views():
            got = view.visible_scene_rect().center()
            assert abs(got.x() - want[0]) <= 2 and abs(got.y() - want[1]) <= 2, (box_id, view.objectName())
        assert views.zoom() == pytest.approx(zoom)
    assert abs(views.left.visible_scene_rect().center().x() - 425) <= 2  # m62 (400..449) was centred, not clamped


def test_double_click_on_a_row_zooms_onto_its_box(qtbot, scene):
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    fitted_zoom = window.views.zoom()
    point = row_point(box_list, ids["m62"])
    QTest.mouseClick(box_list.table.viewport(), Qt.MouseButton.LeftButton, NONE, point)  # what a person's
    QTest.mouseDClick(box_list.table.viewport(), Qt.MouseButton.LeftButton, NONE, point)  # double click sends
    box = get_box(window.project, ids["m62"])
    visible = window.views.left.visible_scene_rect()
    assert not window.views.left.is_fitted() and window.views.zoom() > 2 * fitted_zoom
    assert visible.contains(box.x1, box.y1) and visible.contains(box.x2 + 1, box.y2 + 1)
    assert abs(visible.center().x() - centre(box)[0]) <= 2 and abs(visible.center().y() - centre(box)[1]) <= 2
    assert visible.width() < 4 * 50 or visible.height() < 4 * 40  # the box fills a good part of the view
    assert selected_in_scene(window) == [ids["m62"]]


# -- keys while the list has the focus --------------------------------------------------------

def test_y_n_del_and_undo_pressed_in_the_list_reach_the_window_and_the_rows_follow(qtbot, scene):
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    table = box_list.table
    click_header(box_list, "state")  # proposed, accepted, rejected: an accepted box moves down
    click_row(box_list, ids["m62"])
    assert table.hasFocus()
    QTest.keyClick(table, Qt.Key.Key_Y)
    assert get_box(window.project, ids["m62"]).state == "accepted"
    assert [r[1] for r in rows(box_list)] == ["proposed", "proposed", "accepted", "accepted", "rejected"]
    assert selected_rows(box_list) == [ids["m62"]] == selected_in_scene(window)  # followed its box
    click_row(box_list, ids["m91"])
    QTest.keyClick(table, Qt.Key.Key_N)
    assert get_box(window.project, ids["m91"]).state == "rejected"
    row = listed_ids(box_list).index(ids["m91"])
    assert rows(box_list)[row][1] == "rejected"
    assert box_list.model.data(box_list.model.index(row, 1), Qt.ItemDataRole.ForegroundRole) is not None
    click_row(box_list, ids["human"])
    before = get_box(window.project, ids["human"])
    QTest.keyClick(table, Qt.Key.Key_Down)  # the arrows nudge the box, as on the image
    assert get_box(window.project, ids["human"]).y1 == before.y1 + 1 and selected_rows(box_list) == [ids["human"]]
    QTest.keyClick(table, Qt.Key.Key_Delete)
    assert get_box(window.project, ids["human"]).state == "deleted"
    assert ids["human"] not in listed_ids(box_list) and box_list.footer.text().startswith("4 boxes")
    QTest.keyClick(table, Qt.Key.Key_Z, CTRL)
    assert ids["human"] in listed_ids(box_list) and get_box(window.project, ids["human"]).state == "accepted"
    assert table.hasFocus()


def test_tab_in_the_list_reaches_a_window_shortcut_for_select_next(qtbot, scene):
    """The window binds Tab / Shift+Tab (Edit menu); pressed with the list focused they still work."""
    window, box_list, ids = scene.window, scene.box_list, scene.ids
    assert [window.actions[a].shortcut().toString() for a in ("next_box", "previous_box")] == ["Tab", "Shift+Tab"]
    click_row(box_list, ids["m75"])
    QTest.keyClick(box_list.table, Qt.Key.Key_Tab)
    assert selected_in_scene(window) == [ids["m62"]] and box_list.table.hasFocus()
    QTest.keyClick(box_list.table, Qt.Key.Key_Tab)
    assert selected_in_scene(window) == [ids["p55"]]
    QTest.keyClick(box_list.table, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)  # what Shift+Tab sends
    assert selected_in_scene(window) == [ids["m62"]] == selected_rows(box_list)
    assert box_list.table.hasFocus()
