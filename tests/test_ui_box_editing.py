"""Box editing end to end: real mouse gestures on a real view, stored at once, undoable.

Each test opens a real SQLite project over real image files, shows the ``BoxScene`` in a
``QGraphicsView`` and drives it with ``QTest`` mouse events on the viewport, then checks the
store itself (not just the items).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QUndoStack
from PySide6.QtWidgets import QGraphicsView
from sqlalchemy import select

from app.store import Project, boxes_of, create_box, get_box, import_images, move_box, record_detections, set_box_state
from app.store.tables import Image
from app.ui.box_attributes import BoxAttributePanel
from app.ui.box_editor import BoxEditor
from app.ui.box_items import HANDLE_ROLES, HANDLE_SIZE, PALETTE, BoxItem
from app.ui.box_scene import BoxScene
from app.ui.paired_views import PairedViews
from tests.gui_gestures import click, drag

W, H = 160, 120


@dataclass
class Env:
    project: Project
    scene: BoxScene
    stack: QUndoStack
    editor: BoxEditor
    view: QGraphicsView
    images: dict[str, int]
    errors: list[str]


@pytest.fixture
def env(tmp_path, write_images, qtbot):
    write_images(tmp_path / "images", ["a.png", "b.png"], size=(W, H))
    project = Project.create(tmp_path / "project.dfs.db", author="ann")
    import_images(project, tmp_path / "images")
    with project.read() as s:
        images = dict(s.execute(select(Image.rel_path, Image.id)).all())
    view = QGraphicsView()
    qtbot.addWidget(view)
    scene = BoxScene(view)  # Qt owns it: deleted with the view, never by Python's GC first
    view.setScene(scene)
    stack = QUndoStack(view)
    editor = BoxEditor(project, scene, stack, parent=view)
    errors: list[str] = []
    editor.error.connect(errors.append)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    editor.load(images["a.png"])
    yield Env(project, scene, stack, editor, view, images, errors)
    project.close()


# -- helpers ----------------------------------------------------------------------------------

def handle_pos(item: BoxItem, role: tuple[float, float]) -> tuple[float, float]:
    handle = item.handles[HANDLE_ROLES.index(role)]
    p = item.mapToScene(handle.pos())
    return (p.x(), p.y())


def human_box(env: Env, xyxy=(20, 30, 59, 69), image="a.png") -> int:
    box = create_box(env.project, env.images[image], xyxy)
    env.editor.refresh()
    return box.id


def model_boxes(env: Env, boxes, scores) -> list[int]:
    record_detections(env.project, {env.images["a.png"]: (boxes, scores)})
    env.editor.load(env.images["a.png"])
    return [b.id for b in env.editor.boxes() if b.source == "model"]


def assert_xyxy(actual, expected, tol=1.0) -> None:
    assert all(abs(a - e) <= tol for a, e in zip(actual, expected)), f"{actual} != {expected}"


def item_xyxy(env: Env, box_id: int):
    return env.scene.item_for(box_id).xyxy()


# -- drawing ----------------------------------------------------------------------------------

def test_draw_a_box_then_undo_and_redo_it(env):
    env.editor.set_mode("draw")
    drag(env.view, (20, 30), (60, 70))
    [box] = boxes_of(env.project, env.images["a.png"])
    assert (box.source, box.state, box.author) == ("human", "accepted", "ann")
    assert_xyxy(box.xyxy, (20, 30, 59, 69))
    assert env.stack.count() == 1 and env.stack.undoText() == "Draw box"
    assert env.editor.selected_box() == box  # ready to be adjusted
    env.stack.undo()
    assert get_box(env.project, box.id).state == "deleted"
    assert env.scene.box_items() == [] and env.editor.boxes() == []
    env.stack.redo()
    again = get_box(env.project, box.id)  # the same row comes back
    assert again.state == "accepted" and again.xyxy == box.xyxy
    assert [b.id for b in env.editor.boxes()] == [box.id]
    assert env.errors == []


def test_drawing_ignores_clicks_and_stays_inside_the_image(env):
    env.editor.set_mode("draw")
    drag(env.view, (50, 50), (50.6, 50.6))  # a click, not a box
    assert boxes_of(env.project, env.images["a.png"]) == [] and env.stack.count() == 0
    drag(env.view, (140, 100), (W + 30, H + 30))  # dragged past the corner: clipped to the image
    [box] = boxes_of(env.project, env.images["a.png"])
    assert box.xyxy == (140, 100, W - 1, H - 1)


def test_draw_mode_draws_over_an_existing_box_but_select_mode_moves_it(env):
    box_id = human_box(env, (10, 10, 89, 89))
    env.editor.set_mode("draw")
    drag(env.view, (30, 30), (50, 50))  # a face inside a bigger box
    assert len(boxes_of(env.project, env.images["a.png"])) == 2
    assert get_box(env.project, box_id).xyxy == (10, 10, 89, 89)


# -- move and resize --------------------------------------------------------------------------

def test_drag_moves_a_box_and_one_undo_restores_it(env):
    box_id = human_box(env)
    drag(env.view, (40, 50), (50, 55))
    assert get_box(env.project, box_id).xyxy == (30, 35, 69, 74)
    assert item_xyxy(env, box_id) == (30, 35, 69, 74)
    assert env.stack.count() == 1 and env.stack.undoText() == "Move box"
    env.stack.undo()
    assert get_box(env.project, box_id).xyxy == (20, 30, 59, 69)
    assert item_xyxy(env, box_id) == (20, 30, 59, 69)


def test_move_snaps_to_whole_pixels_and_stays_inside_the_image(env):
    env.view.scale(4, 4)  # sub-pixel mouse steps
    env.view.centerOn(QPointF(40, 50))
    box_id = human_box(env)
    drag(env.view, (40, 50), (43.2, 51.8))
    assert get_box(env.project, box_id).xyxy == (23, 32, 62, 71)
    env.view.resetTransform()
    drag(env.view, (40, 50), (W + 50, -50))  # far outside: stops at the border
    assert get_box(env.project, box_id).xyxy == (W - 40, 0, W - 1, 39)


def test_dragging_several_selected_boxes_is_one_undo_step(env):
    first = human_box(env)
    second = human_box(env, (100, 10, 119, 29))
    env.editor.select([first, second])
    drag(env.view, (40, 50), (45, 60))
    assert get_box(env.project, first).xyxy == (25, 40, 64, 79)
    assert get_box(env.project, second).xyxy == (105, 20, 124, 39)
    assert env.stack.count() == 1 and env.stack.undoText() == "Move 2 boxes"
    env.stack.undo()
    assert [get_box(env.project, i).xyxy for i in (first, second)] == [(20, 30, 59, 69), (100, 10, 119, 29)]


def test_a_click_without_moving_changes_nothing(env):
    box_id = human_box(env)
    click(env.view, (40, 50))
    assert env.editor.selected_box().id == box_id
    assert env.stack.count() == 0 and get_box(env.project, box_id).version == 1


def test_resize_with_a_corner_handle_and_an_edge_handle(env):
    box_id = human_box(env)
    click(env.view, (40, 50))
    item = env.scene.item_for(box_id)
    assert all(h.isVisible() for h in item.handles)
    drag(env.view, handle_pos(item, (1, 1)), (60 + 10, 70 + 8))  # bottom-right corner: +10, +8
    assert get_box(env.project, box_id).xyxy == (20, 30, 69, 77)
    assert env.stack.undoText() == "Resize box"
    drag(env.view, handle_pos(item, (0, 0.5)), (15, 200))  # left edge: only x moves
    assert get_box(env.project, box_id).xyxy == (15, 30, 69, 77)
    drag(env.view, handle_pos(item, (0.5, 0)), (0, 90))  # top edge past the bottom: 1 px minimum
    assert get_box(env.project, box_id).xyxy == (15, 77, 69, 77)
    assert env.stack.count() == 3
    env.stack.undo()
    env.stack.undo()
    assert get_box(env.project, box_id).xyxy == (20, 30, 69, 77)
    assert env.errors == []


def test_fractional_model_box_resize_keeps_the_edges_not_dragged(env):
    [box_id] = model_boxes(env, [[10.3, 20.6, 40.2, 50.7]], [0.9])
    env.editor.select([box_id])
    item = env.scene.item_for(box_id)
    drag(env.view, handle_pos(item, (1, 1)), (46.2, 56.7))
    box = get_box(env.project, box_id)
    assert (box.x1, box.y1) == (10.3, 20.6)  # untouched edges stay exactly where the model put them
    assert box.x2 == int(box.x2) and box.y2 == int(box.y2)
    assert_xyxy(box.xyxy, (10.3, 20.6, 45, 55))
    drag(env.view, (25, 35), (35, 45))  # a move snaps the position and keeps the size
    moved = get_box(env.project, box_id)
    assert moved.x1 == int(moved.x1) and moved.y1 == int(moved.y1)
    assert abs((moved.x2 - moved.x1) - (box.x2 - box.x1)) < 1e-6
    assert env.errors == []


def test_handles_keep_their_screen_size_at_any_zoom(env):
    box_id = human_box(env)
    env.editor.select([box_id])
    item = env.scene.item_for(box_id)
    for zoom in (0.5, 1, 8):
        env.view.resetTransform()
        env.view.scale(zoom, zoom)
        handle = item.handles[0]
        on_screen = handle.deviceTransform(env.view.viewportTransform()).mapRect(handle.boundingRect())
        assert abs(on_screen.width() - HANDLE_SIZE) < 1.5, zoom


# -- delete, accept, reject, nudge ------------------------------------------------------------

def test_delete_selected_then_undo(env):
    box_id = human_box(env)
    click(env.view, (40, 50))
    env.editor.delete_selected()
    assert get_box(env.project, box_id).state == "deleted"
    assert env.scene.item_for(box_id) is None and env.editor.selected_box() is None
    env.stack.undo()
    assert get_box(env.project, box_id).state == "accepted"
    assert env.scene.item_for(box_id) is not None


def test_accept_and_reject_a_model_box(env):
    [box_id] = model_boxes(env, [[30, 30, 49, 49]], [0.8])
    assert get_box(env.project, box_id).state == "proposed"
    click(env.view, (40, 40))
    env.editor.accept_selected()
    assert get_box(env.project, box_id).state == "accepted"
    env.editor.reject_selected()
    assert get_box(env.project, box_id).state == "rejected"
    assert env.editor.selected_box().state == "rejected"  # the selection follows the edit
    env.stack.undo()
    env.stack.undo()
    assert get_box(env.project, box_id).state == "proposed"
    assert env.scene.item_for(box_id).box.state == "proposed"


def test_nudge_by_one_and_ten_pixels_each_one_undo_step(env):
    box_id = human_box(env)
    env.editor.select([box_id])
    env.editor.nudge_selected(1, 0)
    assert get_box(env.project, box_id).xyxy == (21, 30, 60, 69)
    env.editor.nudge_selected(0, 10)  # Shift+Down
    assert get_box(env.project, box_id).xyxy == (21, 40, 60, 79)
    assert env.stack.count() == 2
    env.stack.undo()
    assert get_box(env.project, box_id).xyxy == (21, 30, 60, 69)
    env.editor.nudge_selected(-100, 0)  # stops at the border
    assert get_box(env.project, box_id).xyxy == (0, 30, 39, 69)
    env.editor.nudge_selected(-10, 0)  # already there: no empty undo step
    assert env.stack.count() == 2


def test_accept_all_above_is_one_undo_step(env):
    ids = model_boxes(env, [[10, 10, 29, 29], [40, 10, 59, 29], [70, 10, 89, 29]], [0.9, 0.6, 0.3])
    assert env.editor.accept_all_above(0.5) == 2
    states = [get_box(env.project, i).state for i in ids]
    assert states == ["accepted", "accepted", "proposed"]
    assert env.stack.count() == 1
    env.stack.undo()
    assert [get_box(env.project, i).state for i in ids] == ["proposed"] * 3
    env.stack.redo()
    assert [get_box(env.project, i).state for i in ids] == states
    assert [b.state for b in env.editor.boxes()] == states
    # afterwards single-box edits still know the right versions
    env.editor.select([ids[0]])
    env.editor.reject_selected()
    env.stack.undo()
    assert get_box(env.project, ids[0]).state == "accepted"
    assert env.editor.accept_all_above(0.99) == 0 and env.errors == []


# -- attributes -------------------------------------------------------------------------------

def test_attribute_panel_edits_are_stored_and_undoable(env, qtbot):
    panel = BoxAttributePanel(env.editor)
    qtbot.addWidget(panel)
    assert not panel.combos["blur"].isEnabled() and "No box" in panel.summary.text()
    box_id = human_box(env)
    click(env.view, (40, 50))
    assert panel.combos["blur"].isEnabled() and panel.box().id == box_id
    assert "40 × 40 px" in panel.summary.text()
    panel.combos["blur"].setCurrentIndex(2)
    panel.ignore.setChecked(True)
    box = get_box(env.project, box_id)
    assert (box.blur, box.ignore) == (2, True)
    assert env.stack.count() == 2
    env.stack.undo()
    assert get_box(env.project, box_id).ignore is False and not panel.ignore.isChecked()
    env.stack.undo()
    assert get_box(env.project, box_id).blur == 0 and panel.combos["blur"].currentData() == 0
    env.editor.set_attributes(box_id, occlusion=1, pose=1)
    assert get_box(env.project, box_id).attributes == {"blur": 0, "expression": 0, "illumination": 0,
                                                       "invalid": 0, "occlusion": 1, "pose": 1}
    assert panel.combos["occlusion"].currentData() == 1
    with pytest.raises(ValueError, match="not a box attribute: x1"):
        env.editor.set_attributes(box_id, x1=3)
    env.scene.clearSelection()
    assert not panel.ignore.isEnabled()


# -- undo across images, conflicts ------------------------------------------------------------

def test_undo_after_switching_images(env):
    a, b = env.images["a.png"], env.images["b.png"]
    box_a = human_box(env)
    env.editor.select([box_a])
    env.editor.nudge_selected(5, 0)
    changed = []
    env.editor.boxes_changed.connect(changed.append)
    env.editor.load(b)
    box_b = human_box(env, (1, 1, 10, 10), image="b.png")
    env.editor.select([box_b])
    env.editor.delete_selected()
    env.stack.undo()  # b's delete
    env.stack.undo()  # a's nudge, while b is shown
    assert get_box(env.project, box_a).xyxy == (20, 30, 59, 69)
    assert [x.id for x in env.editor.boxes()] == [box_b]  # the scene still shows b
    assert changed == [b, b, a]
    env.stack.redo()  # a's nudge again
    assert get_box(env.project, box_a).xyxy == (25, 30, 64, 69)
    env.editor.load(a)
    assert item_xyxy(env, box_a) == (25, 30, 64, 69)
    env.stack.undo()
    assert item_xyxy(env, box_a) == (20, 30, 59, 69)
    assert env.errors == []


def test_project_switch_and_reloading_the_shown_image(env, tmp_path, write_images):
    box_id = human_box(env)
    env.editor.select([box_id])
    env.editor.nudge_selected(1, 0)
    env.editor.load(env.images["a.png"])  # the same image again (e.g. after a detection run): a refresh
    assert env.editor.selected_box().id == box_id
    write_images(tmp_path / "other", ["c.png"], size=(64, 48))
    with Project.create(tmp_path / "other.dfs.db", author="cy") as other:
        import_images(other, tmp_path / "other")
        env.editor.set_project(other)
        assert env.stack.count() == 0 and env.editor.image_id is None and env.scene.box_items() == []
        assert env.editor.author == "cy"
        env.editor.load(1)
        assert env.scene.image_size() == (64, 48)
        env.editor.create_box((1, 1, 9, 9))
        assert [b.author for b in boxes_of(other, 1)] == ["cy"]
    detached = BoxEditor(None, BoxScene(), QUndoStack())
    detached.load(None)
    detached.delete_selected()  # nothing open: nothing happens
    assert detached.image_id is None and detached.author is None


def test_chained_edits_of_one_box_undo_and_redo_in_order(env):
    env.editor.set_mode("draw")
    drag(env.view, (20, 30), (60, 70))
    env.editor.set_mode("select")
    [box] = env.editor.boxes()
    drag(env.view, (40, 50), (50, 50))
    env.editor.accept_selected()  # already accepted: nothing pushed
    env.editor.set_attributes(box.id, blur=1)
    assert env.stack.count() == 3
    for _ in range(3):
        env.stack.undo()
    assert get_box(env.project, box.id).state == "deleted"
    for _ in range(3):
        env.stack.redo()
    final = get_box(env.project, box.id)
    assert (final.state, final.xyxy, final.blur) == ("accepted", (30, 30, 69, 69), 1)
    assert env.errors == []


def test_a_change_made_elsewhere_is_never_overwritten(env, tmp_path):
    box_id = human_box(env)
    env.editor.select([box_id])
    with Project.open(tmp_path / "project.dfs.db", author="bob") as other:
        move_box(other, box_id, 1, (100, 10, 139, 49))  # behind the editor's back
        env.editor.nudge_selected(1, 0)
        assert len(env.errors) == 1
        assert "was changed by bob" in env.errors[0] and "removed from the undo history" in env.errors[0]
        assert get_box(env.project, box_id).xyxy == (100, 10, 139, 49)  # bob's change stays
        assert env.stack.count() == 0
        assert item_xyxy(env, box_id) == (100, 10, 139, 49)  # and the editor now shows it
        # an edit based on what is now shown works; bob then changes it again; our undo refuses
        env.editor.nudge_selected(0, 1)
        assert get_box(env.project, box_id).xyxy == (100, 11, 139, 50) and env.stack.count() == 1
        set_box_state(other, box_id, get_box(other, box_id).version, "rejected")
        env.stack.undo()
        assert len(env.errors) == 2 and env.errors[1].startswith("Undo of “Nudge box” failed")
        current = get_box(env.project, box_id)
        assert (current.state, current.xyxy) == ("rejected", (100, 11, 139, 50))
        assert env.stack.count() == 0  # the stale step is gone


def test_a_drag_that_conflicts_puts_the_box_back_where_it_is_stored(env, tmp_path):
    box_id = human_box(env)
    with Project.open(tmp_path / "project.dfs.db", author="bob") as other:
        set_box_state(other, box_id, 1, "rejected")
    drag(env.view, (40, 50), (50, 50))
    assert len(env.errors) == 1 and "Move box" in env.errors[0]
    stored = get_box(env.project, box_id)
    assert (stored.state, stored.xyxy) == ("rejected", (20, 30, 59, 69))
    assert item_xyxy(env, box_id) == stored.xyxy


# -- display filters --------------------------------------------------------------------------

def test_confidence_threshold_hides_low_model_boxes(env):
    human = human_box(env, (100, 80, 119, 99))
    high, low, low_accepted = model_boxes(env, [[10, 10, 29, 29], [40, 10, 59, 29], [70, 10, 89, 29]],
                                          [0.9, 0.3, 0.2])
    env.editor.select([low_accepted])
    env.editor.accept_selected()
    env.scene.set_confidence_threshold(0.5)
    shown = {i.box.id for i in env.scene.box_items() if i.isVisible()}
    assert shown == {human, high, low_accepted}  # reviewed boxes always show
    env.scene.set_confidence_threshold(0.0)
    assert all(i.isVisible() for i in env.scene.box_items())
    env.scene.set_boxes_visible(False)  # H
    assert not any(i.isVisible() for i in env.scene.box_items())
    env.scene.set_boxes_visible(True)
    item = env.scene.item_for(high)
    assert item.label_text() == "0.90"
    assert env.scene.item_for(human).label_text() == ""  # no score, no label
    env.scene.set_score_labels_visible(False)
    assert item.label_text() == ""


def _render(scene) -> QImage:
    """The scene's boxes drawn over black at 2x (what a view paints over the image)."""
    w, h = scene.image_size()
    image = QImage(2 * w, 2 * h, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    painter = QPainter(image)
    scene.render(painter, QRectF(0, 0, 2 * w, 2 * h), QRectF(0, 0, w, h))
    painter.end()
    return image


def test_boxes_are_painted_in_their_colours_selected_or_not_and_hidden_when_asked(env):
    model = model_boxes(env, [[10, 10, 29, 29]], [0.9])[0]
    human = human_box(env, (60, 10, 79, 29))
    on_edge = {model: (2 * 10, 2 * 15), human: (2 * 60, 2 * 15)}  # on a left edge (clear of handles), at 2x

    def colour(box_id):
        return _render(env.scene).pixelColor(*on_edge[box_id]).getRgb()[:3]

    amber, green = PALETTE["model_proposed"][0].getRgb()[:3], PALETTE["accepted"][0].getRgb()[:3]
    assert colour(model) == amber and colour(human) == green  # unselected: the outline layer
    env.editor.select([model])
    assert colour(model) == amber  # selected: the item paints itself (thicker, filled)
    env.editor.select([])
    env.scene.set_boxes_visible(False)
    assert colour(model) == (0, 0, 0) and colour(human) == (0, 0, 0)
    env.scene.set_boxes_visible(True)
    env.scene.set_confidence_threshold(0.95)
    assert colour(model) == (0, 0, 0) and colour(human) == green


# -- one scene, two views ---------------------------------------------------------------------

def test_one_scene_in_two_views_edits_show_in_both(env, qtbot):
    box_id = human_box(env)
    pair = PairedViews(env.scene)
    qtbot.addWidget(pair)
    pair.resize(800, 300)
    pair.show()
    qtbot.waitExposed(pair)
    left, right = pair.views()
    right.fit()
    item = env.scene.item_for(box_id)
    assert item in left.items() and item in right.items()
    drag(right, (40, 50), (60, 60))  # moved in the second view...
    assert get_box(env.project, box_id).xyxy == (40, 40, 79, 79)
    for view in (env.view, left, right):  # ...is the same item in every view
        [shown] = [i for i in view.items() if isinstance(i, BoxItem)]
        assert shown is item and item.xyxy() == (40, 40, 79, 79)
    drag(right, handle_pos(item, (1, 1)), (90, 95))
    assert get_box(env.project, box_id).xyxy == (40, 40, 89, 94)
    env.editor.set_mode("draw")
    drag(left, (100, 10), (120, 30))
    assert len(env.editor.boxes()) == 2
    assert env.errors == []


# -- speed ------------------------------------------------------------------------------------

def test_reloading_2000_boxes_is_fast_enough_to_do_after_every_edit(env):
    import numpy as np

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, W - 12, size=(2000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 10, size=(2000, 2))], axis=1)
    ids = model_boxes(env, boxes, rng.uniform(0, 1, 2000))
    assert len(ids) == 2000
    start = time.perf_counter()
    env.editor.load(env.images["a.png"])
    load_s = time.perf_counter() - start
    env.editor.select([ids[0]])
    start = time.perf_counter()
    env.editor.nudge_selected(1, 1)  # one command: a store write and a full reload
    edit_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(5):
        env.editor.refresh()
    refresh_s = (time.perf_counter() - start) / 5
    print(f"\n2,000 boxes: load {load_s * 1000:.0f} ms, reload after edit {refresh_s * 1000:.0f} ms, "
          f"nudge (write + reload) {edit_s * 1000:.0f} ms")
    assert len(env.scene.box_items()) == 2000


def test_a_moved_selected_box_takes_its_score_label_along_on_screen(qtbot):
    """Read back what the screen shows (not a fresh render): a label painted outside the item's
    bounding rectangle would stay behind as a ghost after a drag."""
    from app.store.boxes import BoxData
    from app.ui.pixel_view import PixelView

    scene = BoxScene()
    scene.set_image_size(400, 300)
    view = PixelView(scene)
    qtbot.addWidget(view)
    black = QImage(400, 300, QImage.Format.Format_RGB888)
    black.fill(QColor(0, 0, 0))
    view.set_image(black)
    view.resize(420, 320)
    view.show()
    qtbot.waitExposed(view)
    scene.set_boxes([BoxData(1, 1, 100, 100, 159, 139, "model", "proposed", 0.93, 1)])
    view.fitInView(QRectF(0, 0, 400, 300))
    item = scene.item_for(1)
    item.setSelected(True)
    qtbot.wait(50)

    def lit_above(scene_point) -> int:
        """Bright pixels on screen where a label sits: just above ``scene_point`` (a top-left corner)."""
        shot = view.screen().grabWindow(view.winId()).toImage()
        offset = view.viewport().mapTo(view, view.viewport().rect().topLeft())
        corner = view.viewportTransform().map(scene_point)
        return sum(QColor(shot.pixel(int(corner.x()) + dx + offset.x(),
                                     int(corner.y()) - dy + offset.y())).value() > 100
                   for dx in range(0, 26) for dy in range(2, 14))

    before = item.pos()
    assert lit_above(before) > 20
    item.setPos(before + QPointF(0, 60))  # what a drag does to the selected item
    qtbot.wait(50)
    assert lit_above(item.pos()) > 20  # the label moved with the box ...
    assert lit_above(before) == 0  # ... and left nothing where it was


def test_a_reload_that_changes_nothing_keeps_the_outline_batch(env):
    box = model_boxes(env, [[10, 10, 29, 29], [40, 10, 59, 29]], [0.9, 0.8])[0]
    _render(env.scene)  # builds the batch
    batch = env.scene.outlines._batch
    assert batch is not None
    env.editor.load(env.images["a.png"])  # the same boxes again
    assert env.scene.outlines._batch is batch
    stored = get_box(env.project, box)
    move_box(env.project, box, stored.version, (15, 10, 34, 29))  # changed elsewhere
    env.editor.load(env.images["a.png"])
    assert env.scene.outlines._batch is None  # rebuilt on the next paint
    assert _render(env.scene).pixelColor(2 * 15, 2 * 15).getRgb()[:3] == PALETTE["model_proposed"][0].getRgb()[:3]
