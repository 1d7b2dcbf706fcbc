"""The tiny-face loupe, read back from the screen: real mouse events on real paired views.

The test image gives every pixel its own colour, so a block of one colour in the loupe is one
image pixel, and where it is says where the loupe put that pixel: the tests find the blocks in
a grab of the viewport instead of trusting the loupe's own arithmetic. The views are sized so
the image is fitted at about 0.5 (one screen pixel ≈ two image pixels), as on a laptop.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.store.boxes import BoxData
from app.ui import loupe as loupe_module
from app.ui.box_items import HANDLE_ROLES, PALETTE
from app.ui.box_scene import BoxScene
from app.ui.loupe import GAP, loupe_side, place_loupe
from app.ui.paired_views import PairedViews
from tests.gui_gestures import drag

W, H = 1080, 720  # a DARK FACE image


def original_rgb(x, y):
    """A colour of its own for every pixel (x < 1280, y < 768)."""
    return np.stack([x % 256, y % 256, 20 + 50 * (x // 256) + 15 * (y // 256)], -1).astype(np.uint8)


def enhanced_rgb(x, y):
    return 255 - original_rgb(x, y)


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _image(fn, w=W, h=H) -> QImage:
    y, x = np.mgrid[0:h, 0:w]
    return _qimage(fn(x, y))


@pytest.fixture
def pair(qtbot):
    scene = BoxScene()
    scene.set_image_size(W, H)
    views = PairedViews(scene)
    scene.setParent(views)  # Qt owns it: deleted with the widget, never by Python's GC first
    qtbot.addWidget(views)
    views.resize(1100, 440)
    views.show()
    qtbot.waitExposed(views)
    views.set_images(_image(original_rgb), _image(enhanced_rgb))
    assert 0.45 < views.left.zoom() < 0.55
    return views


def shot(view) -> np.ndarray:
    """What the screen shows over the viewport, as an ``(h, w, 3)`` array.

    Read from the window's backing store, not rendered afresh (``grab``): a loupe that failed to
    repaint, or left a copy of itself behind, shows here as it would to the reviewer."""
    QApplication.processEvents()
    viewport = view.viewport()
    window = viewport.window()
    corner = viewport.mapTo(window, QPoint(0, 0))
    image = window.screen().grabWindow(window.winId()).toImage()
    image = image.copy(QRect(corner, viewport.size())).convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return rows[:, :3 * w].reshape(h, w, 3).copy()


def move(view, scene_xy) -> tuple[QPoint, tuple[int, int]]:
    """The mouse to the viewport pixel over scene ``scene_xy``; returns it and the image pixel under it."""
    pos = view.mapFromScene(QPointF(*scene_xy))
    QTest.mouseMove(view.viewport(), pos + QPoint(1, 1))  # Qt drops a move to where the mouse already is
    QTest.mouseMove(view.viewport(), pos)
    QApplication.processEvents()
    p = view.mapToScene(pos)
    return pos, (math.floor(p.x()), math.floor(p.y()))


def block(arr: np.ndarray, rect: QRect, rgb) -> QRect | None:
    """The bounding box of ``rgb`` inside ``rect`` if its pixels fill it exactly, else ``None``."""
    part = arr[rect.top():rect.bottom() + 1, rect.left():rect.right() + 1]
    ys, xs = np.nonzero(np.all(part == np.asarray(rgb, np.uint8), axis=-1))
    if len(xs) == 0:
        return None
    box = QRect(int(xs.min()) + rect.left(), int(ys.min()) + rect.top(),
                int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1)
    return box if box.width() * box.height() == len(xs) else None


def colour_of(fn, x, y):
    return tuple(int(v) for v in fn(np.int64(x), np.int64(y)))


def wheel(view, pos: QPoint, notches: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    event = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


# -- what the loupe shows ---------------------------------------------------------------------

@pytest.mark.parametrize("factor", [4, 8])
def test_loupe_shows_the_pixels_around_the_pointer_as_factor_sized_blocks(pair, factor):
    pair.set_loupe_zoom(factor)
    pair.set_loupe(True)
    for loupe in pair.loupes():
        loupe.set_grid(False)  # exact blocks; the grid has its own test
    view, loupe = pair.left, pair.loupes()[0]
    pos, (cx, cy) = move(view, (510.3, 300.6))
    arr, square = shot(view), loupe.pixel_rect()
    assert view.viewport().rect().contains(loupe.rect()) and not loupe.rect().contains(pos)
    centre = block(arr, square, colour_of(original_rgb, cx, cy))
    assert centre is not None and centre.size() == QSize(factor, factor)
    assert abs(centre.center().x() - square.center().x()) <= factor  # the pointer's pixel in the middle
    assert abs(centre.center().y() - square.center().y()) <= factor
    for dx, dy in [(-3, -3), (2, -2), (3, 2), (-2, 3), (0, -3), (-3, 0), (3, 0)]:
        found = block(arr, square, colour_of(original_rgb, cx + dx, cy + dy))
        # nearest neighbour: each neighbour exactly one block, exactly where its pixel is
        assert found == QRect(centre.left() + dx * factor, centre.top() + dy * factor, factor, factor), (dx, dy)
    centre_point = loupe.point()
    assert centre_point is not None and (math.floor(centre_point.x()), math.floor(centre_point.y())) == (cx, cy)


def test_pixel_grid_at_high_factors_marks_each_pixels_first_row_and_column(pair):
    pair.set_loupe_zoom(8)
    pair.set_loupe(True)
    view, loupe = pair.left, pair.loupes()[0]
    assert loupe.grid()
    _pos, (cx, cy) = move(view, (520.2, 280.7))
    rgb = colour_of(original_rgb, cx + 2, cy + 2)  # clear of the pointer's mark
    arr = shot(view)
    square = loupe.pixel_rect()
    part = arr[square.top():square.bottom() + 1, square.left():square.right() + 1]
    ys, xs = np.nonzero(np.all(part == np.asarray(rgb, np.uint8), axis=-1))
    assert len(xs) == 7 * 7  # the 8x8 block less its first row and column
    left, top = xs.min() + square.left(), ys.min() + square.top()
    grid_px = arr[top - 1, left + 3]  # the block's first row: grey-tinted, not the pixel's colour
    assert tuple(int(v) for v in grid_px) != rgb and abs(int(grid_px[0]) - rgb[0]) > 10
    pair.loupes()[0].set_grid(False)
    QApplication.processEvents()
    assert block(shot(view), square, rgb).size() == QSize(8, 8)


def test_box_edges_are_drawn_on_the_pixel_boundaries_in_their_colours(pair, qtbot, monkeypatch):
    paints = []
    paint = loupe_module._Overlay.paintEvent
    monkeypatch.setattr(loupe_module._Overlay, "paintEvent", lambda self, event: (paints.append(1), paint(self, event)))
    pair.set_loupe_zoom(4)
    pair.set_loupe(True)
    view, loupe = pair.left, pair.loupes()[0]
    _pos, (cx, cy) = move(view, (600.4, 350.4))
    scene = pair.scene
    scene.set_boxes([
        BoxData(1, 1, cx - 2, cy - 6, cx + 1, cy + 6, "human", "accepted", None, 1),  # green, left edge at cx - 2
        BoxData(2, 1, cx + 3, cy - 6, cx + 5, cy - 1, "model", "proposed", 0.8, 1),  # amber, right edge after cx + 5
    ])
    qtbot.wait(20)
    arr = shot(view)
    centre = block(arr, loupe.pixel_rect(), colour_of(original_rgb, cx, cy))
    assert centre is not None
    f = 4

    def boundary(x: int) -> int:
        """Loupe column of the left edge of image pixel column ``x``."""
        return centre.left() + (x - cx) * f

    green, amber = (tuple(PALETTE[k][0].getRgb()[:3]) for k in ("accepted", "model_proposed"))
    row = centre.top() + 3 * f + f // 2  # inside the green box's rows
    x = boundary(cx - 2)
    assert [tuple(int(v) for v in arr[row, c]) for c in (x - 1, x)] == [green, green]  # one px each side
    assert tuple(int(v) for v in arr[row, x + 1]) == colour_of(original_rgb, cx - 2, cy + 3)  # the pixel itself shows
    assert tuple(int(v) for v in arr[row, x - 2]) == colour_of(original_rgb, cx - 3, cy + 3)
    row = centre.top() - 3 * f + f // 2
    x = boundary(cx + 6)  # right edge of pixel cx + 5
    assert [tuple(int(v) for v in arr[row, c]) for c in (x - 1, x)] == [amber, amber]
    assert tuple(int(v) for v in arr[row, x - 2]) == colour_of(original_rgb, cx + 5, cy - 3)
    # the box moves (a nudge: no mouse motion; the editor reloads the stored box) and the loupe follows
    scene.set_boxes([BoxData(1, 1, cx - 1, cy - 6, cx + 2, cy + 6, "human", "accepted", None, 2),
                     BoxData(2, 1, cx + 3, cy - 6, cx + 5, cy - 1, "model", "proposed", 0.8, 1)])
    qtbot.wait(50)
    arr = shot(view)
    row = centre.top() + 3 * f + f // 2
    assert tuple(int(v) for v in arr[row, boundary(cx - 1)]) == green
    assert tuple(int(v) for v in arr[row, boundary(cx - 2)]) != green
    # a selected box paints itself: a change to it repaints only its own area of the view, beside
    # the loupe rather than under it, and the loupe must notice that too
    scene.select_only([1])
    qtbot.wait(20)
    scene.item_for(1).set_edges((cx - 3, cy - 6, cx + 2, cy + 7))  # what a resize drag does
    qtbot.wait(50)
    arr = shot(view)
    assert tuple(int(v) for v in arr[row, boundary(cx - 3)]) == green
    assert tuple(int(v) for v in arr[row, boundary(cx - 1)]) != green
    paints.clear()
    qtbot.wait(100)
    assert paints == []  # and then rests: its own repaints do not set off more of them


def test_both_views_show_the_same_image_point_the_other_follows_the_pointer(pair):
    pair.set_loupe_zoom(6)
    pair.set_loupe(True)
    left, right = pair.views()
    left_loupe, right_loupe = pair.loupes()
    pos, (cx, cy) = move(left, (400.6, 250.2))
    assert left_loupe.is_driving() and not right_loupe.is_driving()
    assert right_loupe.point() == left_loupe.point()
    a, b = shot(left), shot(right)
    in_left = block(a, left_loupe.pixel_rect(), colour_of(original_rgb, cx, cy))
    in_right = block(b, right_loupe.pixel_rect(), colour_of(enhanced_rgb, cx, cy))
    assert in_left is not None and in_right is not None
    assert in_left.size() == QSize(5, 5)  # a 6-px block less the grid's first row and column
    # same place in the right viewport (the views show the same region), enhanced pixels there
    assert in_right == in_left.translated(right_loupe.rect().topLeft() - left_loupe.rect().topLeft())
    assert right_loupe.rect().topLeft() == left_loupe.rect().topLeft()
    # the follower marks where the pointer is (its view has no mouse cursor)
    assert tuple(int(v) for v in b[pos.y(), pos.x() + 5]) == (255, 255, 255)
    assert tuple(int(v) for v in a[pos.y(), pos.x() + 5]) != (255, 255, 255)  # the driver has the real cursor
    # now the right view drives
    QTest.mouseMove(right.viewport(), right.mapFromScene(QPointF(700.3, 420.8)))
    QApplication.processEvents()
    assert right_loupe.is_driving() and not left_loupe.is_driving()
    px = (math.floor(right_loupe.point().x()), math.floor(right_loupe.point().y()))
    assert 699 <= px[0] <= 701 and 419 <= px[1] <= 421
    assert block(shot(left), left_loupe.pixel_rect(), colour_of(original_rgb, *px)) is not None
    assert block(shot(right), right_loupe.pixel_rect(), colour_of(enhanced_rgb, *px)) is not None


def test_compare_split_and_a_smaller_preview_show_what_the_view_shows(pair):
    pair.set_loupe_zoom(4)
    pair.set_loupe(True)
    right, right_loupe = pair.right, pair.loupes()[1]
    half = _image(lambda x, y: enhanced_rgb(2 * x, 2 * y), W // 2, H // 2)  # a live preview, stretched
    pair.set_enhanced(half)
    _pos, (cx, cy) = move(right, (300.5, 200.5))
    px, py = cx // 2 + 3, cy // 2 - 3  # a preview pixel clear of the pointer's mark
    found = block(shot(right), right_loupe.pixel_rect(), colour_of(enhanced_rgb, 2 * px, 2 * py))
    assert found is not None and found.size() == QSize(8, 8)  # a preview pixel covers 2x2 image pixels
    pair.set_enhanced(_image(enhanced_rgb))
    pair.set_layout("split")
    pair.split_slider.setValue(500)
    left, left_loupe = pair.left, pair.loupes()[0]
    split_x = left.split_scene_x()
    _pos, (cx, cy) = move(left, (split_x - 40, 300.5))
    assert block(shot(left), left_loupe.pixel_rect(), colour_of(original_rgb, cx, cy)) is not None
    _pos, (cx, cy) = move(left, (split_x + 40, 300.5))
    arr = shot(left)
    assert block(arr, left_loupe.pixel_rect(), colour_of(enhanced_rgb, cx, cy)) is not None
    assert block(arr, left_loupe.pixel_rect(), colour_of(original_rgb, cx, cy)) is None


# -- off, leaving, corners --------------------------------------------------------------------

def test_no_loupe_and_no_painting_while_off_and_none_after_the_mouse_left(pair, monkeypatch):
    calls = []
    paint = loupe_module._Overlay.paintEvent
    monkeypatch.setattr(loupe_module._Overlay, "paintEvent",
                        lambda self, event: (calls.append(self), paint(self, event)))
    view = pair.left
    pos, (cx, cy) = move(view, (510.3, 300.6))
    move(view, (512.3, 302.6))
    pos, (cx, cy) = move(view, (510.3, 300.6))
    baseline, right_baseline = shot(view), shot(pair.right)
    assert calls == [] and pair.loupes()[0].rect().isNull()
    pair.set_loupe(True)  # the mouse is over the view: shown at once (no need to move first)
    QApplication.processEvents()
    assert not pair.loupes()[0].rect().isEmpty()
    on = shot(view)
    assert calls and not np.array_equal(on, baseline)
    assert block(on, pair.loupes()[0].pixel_rect(), colour_of(original_rgb, cx, cy)).size() == QSize(5, 5)  # x6, grid
    QApplication.sendEvent(view.viewport(), QEvent(QEvent.Type.Leave))
    QApplication.processEvents()
    assert pair.loupes()[0].rect().isEmpty() and pair.loupes()[1].rect().isEmpty()
    assert np.array_equal(shot(view), baseline)
    move(view, (510.3, 300.6))
    assert not np.array_equal(shot(view), baseline)
    pair.set_loupe(False)
    QApplication.processEvents()
    assert np.array_equal(shot(view), baseline) and np.array_equal(shot(pair.right), right_baseline)
    calls.clear()
    move(view, (520.3, 310.6))
    move(view, (510.3, 300.6))
    view.viewport().update()  # the view repaints (a box edited, a new image): nothing of the loupe runs
    assert np.array_equal(shot(view), baseline) and calls == []
    assert view.precise_drag() is None


def test_the_loupe_stays_inside_the_viewport_and_off_the_pointer_at_the_corners(pair):
    pair.set_loupe(True)
    view, loupe = pair.left, pair.loupes()[0]
    vp = view.viewport().rect()
    w, h = vp.width(), vp.height()
    # right of and above the pointer where there is room; flipped left / below near the edges
    for pos, right, above in ((QPoint(3, 3), True, False), (QPoint(w - 4, 3), False, False),
                              (QPoint(3, h - 4), True, True), (QPoint(w - 4, h - 4), False, True),
                              (QPoint(w // 2, 3), True, False), (QPoint(3, h - 100), True, True)):
        QTest.mouseMove(view.viewport(), pos)
        QApplication.processEvents()
        rect = loupe.rect()
        assert not rect.isEmpty() and vp.contains(rect) and not rect.contains(pos), pos
        assert (rect.left() > pos.x()) == right and (rect.right() < pos.x()) != right, pos
        assert (rect.bottom() < pos.y()) == above and (rect.top() > pos.y()) != above, pos
    for corner in ((0.9, 0.9), (W - 1.1, H - 1.1)):  # the image's corners (a screen px is ~2 image px)
        pos, px = move(view, corner)
        assert 0 <= px[0] < W and 0 <= px[1] < H and abs(px[0] - corner[0]) <= 2 and abs(px[1] - corner[1]) <= 2
        assert block(shot(view), loupe.pixel_rect(), colour_of(original_rgb, *px)) is not None
        assert vp.contains(loupe.rect()) and not loupe.rect().contains(pos)


@pytest.mark.parametrize("viewport", [QSize(545, 420), QSize(300, 180), QSize(140, 400)])
def test_placement_never_covers_the_pointer_anywhere_in_the_viewport(viewport):
    side = loupe_side(viewport)
    assert side > 0 and side + GAP <= viewport.width() / 2
    size = QSize(side, side + loupe_module.CAPTION_HEIGHT)
    bounds = QRect(QPoint(0, 0), viewport)
    for x in range(0, viewport.width(), 3):
        for y in range(0, viewport.height(), 3):
            rect = place_loupe(QPointF(x, y), size, viewport)
            assert bounds.contains(rect) and not rect.contains(QPoint(x, y)), (x, y)
    assert loupe_side(QSize(100, 60)) == 0  # too small for a loupe: none


# -- precise editing --------------------------------------------------------------------------

def _box_pair(pair) -> BoxScene:
    scene = pair.scene
    scene.set_boxes([BoxData(1, 1, 500, 300, 529, 329, "human", "accepted", None, 1)])
    scene.select_only([1])
    return scene


def _drag_handle(view, scene, role, screen_dx: int, edited: list) -> float:
    """Drag handle ``role`` of box 1 right by ``screen_dx`` screen px; returns how far x2 moved."""
    item = scene.item_for(1)
    before = item.xyxy()
    handle = item.handles[HANDLE_ROLES.index(role)]
    a = view.mapFromScene(item.mapToScene(handle.pos()))
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, 5):
        QTest.mouseMove(viewport, a + QPoint(round(screen_dx * i / 4), 0))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a + QPoint(screen_dx, 0))
    assert edited and edited[-1][0] == 1
    after = edited[-1][1]
    scene.set_boxes([BoxData(1, 1, 500, 300, 529, 329, "human", "accepted", None, 1)])  # back (no store here)
    return after[2] - before[2]


def test_with_the_loupe_on_a_drag_moves_the_edge_at_the_loupes_scale(pair):
    scene = _box_pair(pair)
    edited = []
    scene.geometry_edited.connect(lambda box_id, xyxy: edited.append((box_id, xyxy)))
    view = pair.left
    image_px_per_screen_px = 1 / view.zoom()  # ≈ 2 at the fitted zoom
    n = 40
    off = _drag_handle(view, scene, (1, 0.5), n, edited)
    assert abs(off - n * image_px_per_screen_px) <= 1.5  # loupe off: the view's scale (about 80 px)
    pair.set_loupe_zoom(4)
    pair.set_loupe(True)
    on = _drag_handle(view, scene, (1, 0.5), n, edited)
    assert on == n / 4  # 10 px: one image px per 4 screen px, the edge keeps pace with the hand in the loupe
    assert off > 7 * on
    assert _drag_handle(view, scene, (1, 0.5), 4, edited) == 1  # a one-pixel correction at fitted zoom
    pair.set_loupe_zoom(8)
    assert _drag_handle(view, scene, (1, 0.5), 16, edited) == 2
    assert _drag_handle(pair.right, scene, (1, 0.5), 24, edited) == 3  # in the enhanced view too
    pair.set_loupe(False)
    assert abs(_drag_handle(view, scene, (1, 0.5), 4, edited) - 4 * image_px_per_screen_px) <= 1.5


def test_during_a_precise_drag_the_loupe_and_the_status_follow_the_fine_point(pair):
    scene = _box_pair(pair)
    pair.set_loupe_zoom(4)
    pair.set_loupe(True)
    view, left_loupe, right_loupe = pair.left, *pair.loupes()
    points = []
    pair.cursor_moved.connect(lambda x, y: points.append((x, y)))
    item = scene.item_for(1)
    a = view.mapFromScene(item.mapToScene(item.handles[HANDLE_ROLES.index((1, 0.5))].pos()))
    start = view.mapToScene(a)
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(viewport, a + QPoint(10, 6))
    QApplication.processEvents()
    fine = QPointF(start.x() + 10 / 4, start.y() + 6 / 4)
    assert points[-1] == (fine.x(), fine.y())
    assert left_loupe.point() == fine and right_loupe.point() == fine
    assert item.edges()[2] == math.floor(530 + 10 / 4 + 0.5)  # the edge is where the loupe's centre is
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a + QPoint(10, 6))
    back = view.mapToScene(a + QPoint(10, 6))
    assert points[-1] == (back.x(), back.y())  # afterwards the pointer is the mouse again
    assert not view.dragging_precisely()
    # a press the scene does not take (beside every box, select mode) starts no precise drag
    empty = view.mapFromScene(QPointF(200.5, 500.5))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, empty)
    QTest.mouseMove(viewport, empty + QPoint(10, 6))
    assert not view.dragging_precisely() and points[-1] == (view.mapToScene(empty + QPoint(10, 6)).x(),
                                                            view.mapToScene(empty + QPoint(10, 6)).y())
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, empty + QPoint(10, 6))


def test_drawing_a_box_with_the_loupe_on_is_precise_to_the_release(pair):
    scene = pair.scene
    drawn = []
    scene.box_drawn.connect(lambda *xyxy: drawn.append(xyxy))
    scene.set_mode("draw")
    pair.set_loupe_zoom(4)
    pair.set_loupe(True)
    view = pair.left
    a = view.mapFromScene(QPointF(600.2, 400.2))
    QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for step in (QPoint(10, 6), QPoint(20, 12), QPoint(36, 20)):
        QTest.mouseMove(view.viewport(), a + step)
    loupe = pair.loupes()[0]

    def white_in_loupe() -> int:
        square = loupe.pixel_rect()
        part = shot(view)[square.top():square.bottom() + 1, square.left():square.right() + 1]
        return int(np.all(part == 255, axis=-1).sum())

    while_drawing = white_in_loupe()  # the rubber band is drawn in the loupe too (white dashes)
    # released a little further than the last move: the corner is where the release is, finely
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a + QPoint(40, 24))
    [(x1, y1, x2, y2)] = drawn
    assert (x2 - x1 + 1, y2 - y1 + 1) == (10, 6)  # 40 x 24 screen px at x4
    assert while_drawing > white_in_loupe() + 30
    pair.set_loupe(False)
    drag(pair.left, (600.2, 400.2), (600.2 + 40 * 2, 400.2 + 24 * 2))
    x1, y1, x2, y2 = drawn[-1]
    assert abs((x2 - x1 + 1) - 80) <= 2 and abs((y2 - y1 + 1) - 48) <= 2


def test_middle_button_pan_is_not_slowed_by_the_loupe(pair):
    pair.set_loupe(True)
    view = pair.left
    view.zoom_by(4)
    before = view.center()
    QTest.mousePress(view.viewport(), Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 200))
    QTest.mouseMove(view.viewport(), QPoint(160, 200))
    QTest.mouseRelease(view.viewport(), Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(160, 200))
    assert abs((view.center().x() - before.x()) * view.zoom() - 40) <= 1
    assert not view.dragging_precisely()
    # and the loupe shows what is under the pointer after the pan
    loupe = pair.loupes()[0]
    p = view.mapToScene(QPoint(160, 200))
    assert (math.floor(loupe.point().x()), math.floor(loupe.point().y())) == (math.floor(p.x()), math.floor(p.y()))
    arr = shot(view)
    assert block(arr, loupe.pixel_rect(), colour_of(original_rgb, math.floor(p.x()), math.floor(p.y()))) is not None


# -- zoom of the loupe ------------------------------------------------------------------------

def test_ctrl_wheel_steps_the_loupe_zoom_and_plain_wheel_still_zooms_the_view(pair):
    changes = []
    pair.loupe_changed.connect(lambda on, f: changes.append((on, f)))
    assert pair.loupe_zoom() == 6 and not pair.loupe_enabled()
    pair.set_loupe(True)
    view = pair.left
    pos, _px = move(view, (500.5, 300.5))
    zoom = view.zoom()
    ctrl = Qt.KeyboardModifier.ControlModifier
    wheel(view, pos, 1, ctrl)
    wheel(view, pos, 1, ctrl)  # already the largest step
    assert pair.loupe_zoom() == 8 and view.zoom() == zoom
    assert all(loupe.factor() == 8 for loupe in pair.loupes()) and view.precise_drag() == 8
    wheel(view, pos, -1, ctrl)
    wheel(view, pos, -1, ctrl)
    wheel(view, pos, -1, ctrl)
    assert pair.loupe_zoom() == 4
    assert changes == [(True, 6), (True, 8), (True, 6), (True, 4)]
    assert block(shot(view), pair.loupes()[0].pixel_rect(), colour_of(original_rgb, *_px)).size() == QSize(4, 4)
    wheel(view, pos, 1)
    assert view.zoom() > zoom and pair.loupe_zoom() == 4
    with pytest.raises(ValueError, match="whole number from 2 to 16"):
        pair.set_loupe_zoom(1)
    with pytest.raises(ValueError):
        pair.set_loupe_zoom(4.5)
    pair.toggle_loupe()
    assert not pair.loupe_enabled() and changes[-1] == (False, 4)
