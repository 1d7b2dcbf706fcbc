"""The image view: boxes drawn where the labels say, zoom that keeps the cursor's pixel in place."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.ui.image_view import ImageView


def _view(qtbot, boxes) -> ImageView:
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    image = QImage(800, 600, QImage.Format.Format_RGB32)
    image.fill(QColor(5, 5, 8))
    view.set_image(image, np.asarray(boxes, dtype=float))
    return view


def _wheel(view: ImageView, pos: QPoint, notches: int) -> None:
    event = QWheelEvent(
        QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(view.viewport(), event)


def test_boxes_cover_inclusive_pixel_extents(qtbot) -> None:
    view = _view(qtbot, [[10, 20, 19, 39], [100, 100, 100, 100]])
    assert view.box_count() == 2
    assert view.box_rects() == [QRectF(10, 20, 10, 20), QRectF(100, 100, 1, 1)]


def test_new_image_is_fitted_and_actual_size_is_100_percent(qtbot) -> None:
    view = _view(qtbot, [])
    assert view.zoom() < 1  # 800x600 fitted into a 400x300 widget
    view.actual_size()
    assert view.zoom() == 1.0
    view.fit()
    assert view.zoom() < 1


def test_wheel_zooms_around_the_cursor(qtbot) -> None:
    view = _view(qtbot, [])
    view.actual_size()
    cursor = QPoint(100, 80)
    before = view.mapToScene(cursor)
    with qtbot.waitSignal(view.zoom_changed):
        _wheel(view, cursor, 2)
    assert abs(view.zoom() - 1.25**2) < 1e-9
    after = view.mapToScene(cursor)
    assert abs(after.x() - before.x()) <= 1 and abs(after.y() - before.y()) <= 1
    _wheel(view, cursor, -2)
    assert abs(view.zoom() - 1.0) < 1e-9


def test_zoom_is_clamped(qtbot) -> None:
    view = _view(qtbot, [])
    for _ in range(100):
        _wheel(view, QPoint(10, 10), 5)
    assert view.zoom() <= 64.0


def test_hidden_boxes_stay_hidden_on_the_next_image(qtbot) -> None:
    view = _view(qtbot, [[1, 1, 5, 5]])
    view.set_boxes_visible(False)
    image = QImage(50, 40, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    view.set_image(image, np.array([[2, 2, 9, 9], [3, 3, 4, 4]], dtype=float))
    boxes = [item for item in view.scene().items() if item.zValue() == 1]
    assert len(boxes) == 2 and not any(item.isVisible() for item in boxes)


def test_message_replaces_the_image(qtbot) -> None:
    view = _view(qtbot, [[1, 1, 5, 5]])
    view.show_message("Cannot read image x.png")
    assert not view.has_image()
    assert view.box_count() == 0
    assert view.message() == "Cannot read image x.png"
