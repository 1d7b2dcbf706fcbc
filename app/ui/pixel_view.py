"""A zoomable view that paints its own image under a (possibly shared) scene of box items.

The image is drawn in ``drawBackground`` instead of being an item in the scene, so one scene of
editable boxes can be shown by two views over two different images (original and enhanced):
an edit made in either view is the same item, seen in both. Scene coordinates are image pixels;
an image smaller than the scene rect (a display-resolution preview) is stretched over it.

Mouse: wheel zooms around the cursor; middle-drag or Space+left-drag pans; the left button is
left to the scene (select, move, resize, draw). ``compare_image`` + ``split`` shows a second
image right of a vertical split line (the compare mode).

Precise drags (``set_precise_drag``, turned on by the loupe): a left-button drag then moves the
scene point by the mouse motion divided by the loupe's scale, from the press point, so an edge
can be put on an exact image pixel at a zoom where one screen pixel covers several. Qt maps mouse
positions to the scene through whole viewport pixels, so the finer point is written into the
scene's mouse events by a filter that only exists while such a drag is under way.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QTransform, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneMouseEvent, QGraphicsView, QWidget

BACKGROUND = QColor(24, 24, 24)
SPLIT_COLOR = QColor(255, 255, 255, 200)
MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
WHEEL_STEP = 1.25
"""Zoom factor per wheel notch (120 units of angle delta)."""


class PixelView(QGraphicsView):
    """Shows ``image`` (scene = image pixels) with the scene's items on top."""

    zoom_changed = Signal(float)
    view_changed = Signal()
    """Zoom or scroll position changed (drives the sync between paired views)."""
    cursor_moved = Signal(float, float)
    """Scene (image pixel) coordinates under the mouse (during a precise drag: the fine point)."""
    space_tapped = Signal()
    """Space pressed and released without panning (the window's "mark done")."""
    image_changed = Signal()
    """The image or the compare image (or its split) changed: overlays showing pixels repaint."""

    def __init__(self, scene: QGraphicsScene | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if scene is not None:
            self.setScene(scene)
        self.setBackgroundBrush(BACKGROUND)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setMouseTracking(True)
        # no scroll bars: both views of a pair then have the same viewport and show the same
        # region; panning is middle-drag / Space+drag, and the bars still scroll programmatically
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._image: QImage | None = None
        self._compare: QImage | None = None
        self._split = 0.5
        self._fitted = True
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._space_panned = False
        self._mouse_pos: QPointF | None = None
        self._precise_factor: float | None = None
        self._precise: _PreciseDrag | None = None
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    # -- content ---------------------------------------------------------------------------
    def image(self) -> QImage | None:
        return self._image

    def set_image(self, image: QImage | None) -> None:
        """Paint ``image`` under the scene; it fills the scene rect (the full-resolution size)."""
        self._image = image
        self.resetCachedContent()
        self.viewport().update()
        self.image_changed.emit()

    def set_compare(self, image: QImage | None, split: float | None = None) -> None:
        """Show ``image`` right of the split line (``None`` ends the compare mode)."""
        self._compare = image
        if split is not None:
            self._split = min(max(split, 0.0), 1.0)
        self.viewport().update()
        self.image_changed.emit()

    def compare_image(self) -> QImage | None:
        return self._compare

    def split(self) -> float:
        return self._split

    def split_scene_x(self) -> float | None:
        """Scene x of the compare split line (``None`` outside the compare mode)."""
        if self._compare is None:
            return None
        return self.mapToScene(round(self.viewport().width() * self._split), 0).x()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, BACKGROUND)
        target = self.sceneRect()
        if self._image is None or target.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom() < 1)
        painter.drawImage(target, self._image)
        if self._compare is not None:
            x = self.split_scene_x()
            right = QRectF(x, target.top(), max(0.0, target.right() - x), target.height())
            if right.width() > 0:
                sx = self._compare.width() / target.width()
                sy = self._compare.height() / target.height()
                source = QRectF((right.left() - target.left()) * sx, 0, right.width() * sx, right.height() * sy)
                painter.drawImage(right, self._compare, source)
            pen = QPen(SPLIT_COLOR, 0)
            painter.setPen(pen)
            painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))

    # -- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        """Current scale: 1.0 shows one image pixel per screen pixel."""
        return self.transform().m11()

    def is_fitted(self) -> bool:
        return self._fitted

    def fit(self) -> None:
        """Scale so the whole image is visible; keeps fitting on resize until the user zooms."""
        if self.sceneRect().isEmpty():
            return
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._settled()

    def actual_size(self) -> None:
        """One image pixel per screen pixel, keeping the view centre."""
        center = self.center()
        self.resetTransform()
        self.centerOn(center)
        self._fitted = False
        self._settled()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Multiply the zoom by ``factor`` (clamped), keeping the scene point under ``anchor`` fixed."""
        current = self.zoom()
        factor = min(max(current * factor, MIN_ZOOM), MAX_ZOOM) / current
        if factor == 1.0:
            return
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else anchor
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        after = self.mapToScene(anchor.toPoint())
        delta = (after - before) * self.zoom()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
        self._fitted = False
        self._settled()

    def show_region(self, rect: QRectF) -> None:
        """Zoom and scroll so ``rect`` (scene coordinates) fills the view, within the zoom limits."""
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        zoom = min(max(self.zoom(), MIN_ZOOM), MAX_ZOOM)
        if zoom != self.zoom():
            self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(rect.center())
        self._fitted = False
        self._settled()

    def center(self) -> QPointF:
        """The scene point at the centre of the viewport."""
        return self.mapToScene(self.viewport().rect().center())

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def show_like(self, other: PixelView) -> None:
        """Take ``other``'s zoom and centre (the two views show the same region); fit if it fits."""
        if other.is_fitted():
            self.fit()
            return
        self.setTransform(other.transform())
        self.centerOn(other.center())
        self._fitted = other.is_fitted()
        self.viewport().update()

    def scene_point(self, pos: QPointF) -> QPointF:
        """The scene point at viewport position ``pos``, without rounding it to whole viewport pixels."""
        return self.viewportTransform().inverted()[0].map(pos)

    def viewport_point(self, point: QPointF) -> QPointF:
        """Where scene ``point`` is in the viewport (fractional: ``mapFromScene`` rounds)."""
        return self.viewportTransform().map(point)

    # -- pointer ---------------------------------------------------------------------------
    def mouse_position(self) -> QPointF | None:
        """The last mouse position over the viewport (viewport coordinates), if any."""
        return self._mouse_pos

    def pointer_point(self) -> QPointF | None:
        """The scene point the mouse stands for: under it, or during a precise drag the finer point."""
        if self._precise is not None:
            return QPointF(self._precise.point)
        return None if self._mouse_pos is None else self.scene_point(self._mouse_pos)

    def set_precise_drag(self, factor: float | None) -> None:
        """Left-button drags move ``1 / max(factor, zoom)`` image px per screen px (``None``: normal)."""
        self._precise_factor = None if factor is None else float(factor)

    def precise_drag(self) -> float | None:
        return self._precise_factor

    def dragging_precisely(self) -> bool:
        return self._precise is not None

    def _scrolled(self, _value: int) -> None:
        self.view_changed.emit()

    def _settled(self) -> None:
        self.zoom_changed.emit(self.zoom())
        self.view_changed.emit()

    # -- events ----------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if notches == 0:
            super().wheelEvent(event)
            return
        self.zoom_by(WHEEL_STEP**notches, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = True
                self._space_panned = False
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = False
                self.viewport().unsetCursor()
                if not self._space_panned:
                    self.space_tapped.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down)
        if pan:
            self._space_panned = self._space_panned or self._space_down
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        self._mouse_pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton and self._precise is not None:
            self._precise.end()  # a drag whose release never came (the grab was lost)
            self._precise = None
        if (event.button() == Qt.MouseButton.LeftButton and self._precise_factor is not None
                and self.scene() is not None):
            # the press point as Qt maps it (whole viewport pixels): the scene's buttonDownScenePos
            start = self.mapToScene(event.position().toPoint())
            scale = max(self._precise_factor, self.zoom())
            self._precise = _PreciseDrag(self, event.position(), start, scale)
        super().mousePressEvent(event)
        if self._precise is not None and not event.isAccepted():
            self._precise.end()  # the scene took nothing (a click beside the boxes): no drag to refine
            self._precise = None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._mouse_pos = event.position()
        if self._precise is not None:
            scene = self._precise.move_to(event.position())
        else:
            scene = self.mapToScene(event.position().toPoint())
        self.cursor_moved.emit(scene.x(), scene.y())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            self._fitted = False
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            if self._space_down:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        precise = self._precise
        if precise is not None and event.button() == Qt.MouseButton.LeftButton:
            precise.move_to(event.position())  # the release lands on the fine point too (a drawn box's corner)
            try:
                super().mouseReleaseEvent(event)
            finally:
                precise.end()
                self._precise = None
            self._mouse_pos = event.position()
            back = self.mapToScene(event.position().toPoint())
            self.cursor_moved.emit(back.x(), back.y())  # the pointer is the mouse again
            return
        super().mouseReleaseEvent(event)


class _PreciseDrag(QObject):
    """One precise left-button drag of ``view``: the fine scene point, written into the scene's events.

    It filters the scene's events only while the drag lasts, and only those from ``view``'s
    viewport (the scene is shared with another view). Items and the scene read ``scenePos``
    (and ``lastScenePos``), so resize handles, moves and the draw rubber band all follow.
    """

    _TYPES = (QEvent.Type.GraphicsSceneMouseMove, QEvent.Type.GraphicsSceneMouseRelease)

    def __init__(self, view: PixelView, press_pos: QPointF, start: QPointF, scale: float) -> None:
        super().__init__(view)
        self._view = view
        self._scene = view.scene()
        self._press_pos = QPointF(press_pos)
        self._start = QPointF(start)
        self.scale = scale
        """Screen pixels per image pixel of the drag (the loupe's factor, or the zoom if finer)."""
        self.point = QPointF(start)
        self._last = QPointF(start)
        self._scene.installEventFilter(self)

    def move_to(self, pos: QPointF) -> QPointF:
        self._last = self.point
        self.point = self._start + (pos - self._press_pos) / self.scale
        return QPointF(self.point)

    def end(self) -> None:
        self._scene.removeEventFilter(self)
        self.deleteLater()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (event.type() in self._TYPES and isinstance(event, QGraphicsSceneMouseEvent)
                and event.widget() is self._view.viewport()):
            event.setScenePos(self.point)
            event.setLastScenePos(self._last)
        return False
