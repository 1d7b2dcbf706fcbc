"""Two views over one scene: same region at all times, pan with middle button, compare modes."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGraphicsScene

from app.ui.paired_views import PairedViews


def _image(color, w=800, h=600) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor(*color))
    return image


def _views(qtbot) -> PairedViews:
    scene = QGraphicsScene()
    scene.setSceneRect(QRectF(0, 0, 800, 600))
    views = PairedViews(scene)
    scene.setParent(views)  # Qt owns it: deleted with the widget, never by Python's GC first
    qtbot.addWidget(views)
    views.resize(900, 400)
    views.show()
    qtbot.waitExposed(views)
    views.set_images(_image((10, 10, 10)), _image((200, 200, 200), 400, 300))
    return views


def _wheel(view, pos: QPoint, notches: int) -> None:
    event = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


def _same_region(a, b) -> bool:
    if a.is_fitted() or b.is_fitted():
        return a.is_fitted() and b.is_fitted()
    ca, cb = a.center(), b.center()
    return abs(a.zoom() - b.zoom()) < 1e-9 and abs(ca.x() - cb.x()) <= 1 and abs(ca.y() - cb.y()) <= 1


def test_zoom_and_pan_in_either_view_moves_both(qtbot):
    views = _views(qtbot)
    left, right = views.views()
    assert _same_region(left, right)
    fitted = left.zoom()
    _wheel(left, QPoint(100, 100), 3)
    assert not left.is_fitted() and abs(left.zoom() - 1.25**3 * fitted) < 1e-9
    assert _same_region(left, right)
    before = right.center()
    # middle-button drag pans (left button is for editing boxes)
    QTest.mousePress(right.viewport(), Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 200))
    QTest.mouseMove(right.viewport(), QPoint(150, 170))
    QTest.mouseRelease(right.viewport(), Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(150, 170))
    after = right.center()
    assert after.x() > before.x() and after.y() > before.y()
    assert _same_region(left, right)
    views.actual_size()
    assert left.zoom() == 1.0 and _same_region(left, right)
    views.fit()
    assert left.is_fitted() and _same_region(left, right)


def test_space_drag_pans_too(qtbot):
    views = _views(qtbot)
    left, right = views.views()
    left.zoom_by(4)
    left.setFocus()
    before = left.center()
    QTest.keyPress(left, Qt.Key.Key_Space)
    QTest.mousePress(left.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 200))
    QTest.mouseMove(left.viewport(), QPoint(240, 200))
    QTest.mouseRelease(left.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(240, 200))
    QTest.keyRelease(left, Qt.Key.Key_Space)
    assert left.center().x() < before.x()
    assert _same_region(left, right)


def test_layouts_and_the_preview_is_stretched_to_the_image(qtbot):
    views = _views(qtbot)
    left, right = views.views()
    assert right.isVisible()
    # the 400x300 preview is painted over the full 800x600 scene rect
    grab = right.grab().toImage()
    centre = grab.pixelColor(grab.width() // 2, grab.height() // 2)
    assert centre.red() == 200
    views.set_layout("single")
    assert not right.isVisible() and left.image() is views.original()
    views.set_show_enhanced(True)
    assert left.image() is views.enhanced()
    views.set_layout("split")
    assert views.split_slider.isVisible()
    views.split_slider.setValue(500)
    img = left.grab().toImage()
    row = img.height() // 2
    xs = [x for x in range(img.width()) if left.mapToScene(x, row).x() > 5 and left.mapToScene(x, row).x() < 795]
    leftmost, rightmost = img.pixelColor(xs[2], row), img.pixelColor(xs[-3], row)
    assert leftmost.red() < 50 and rightmost.red() > 150  # original left, enhanced right
    try:
        views.set_layout("grid")
    except ValueError as exc:
        assert "layout must be one of" in str(exc)
    else:
        raise AssertionError("unknown layout accepted")


def test_space_tap_is_a_command_but_space_drag_is_not(qtbot):
    views = _views(qtbot)
    left = views.left
    left.setFocus()
    with qtbot.waitSignal(left.space_tapped, timeout=1000):
        QTest.keyClick(left, Qt.Key.Key_Space)
    taps = []
    left.space_tapped.connect(lambda: taps.append(1))
    QTest.keyPress(left, Qt.Key.Key_Space)
    QTest.mousePress(left.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 200))
    QTest.mouseRelease(left.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(220, 200))
    QTest.keyRelease(left, Qt.Key.Key_Space)
    assert taps == []
