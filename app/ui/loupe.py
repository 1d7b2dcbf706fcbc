"""A tiny-face loupe: the image pixels around the cursor, magnified, in every view at once.

DARK FACE faces are often 10–30 px, and at fit-to-window zoom one screen pixel covers about
two image pixels: a box edge cannot be judged, let alone placed, to the pixel. The loupe shows
the pixels around the pointer ``factor`` times larger, nearest neighbour (each image pixel is a
``factor`` × ``factor`` block: no smoothing invents edges), with a faint pixel grid from ×6, the
boxes of the scene drawn on the pixel boundaries in their review colours, and a mark around the
exact pixel under the pointer. A caption gives its coordinates and value.

``PairedViews`` gives each view a ``Loupe``; the view under the mouse drives, the other shows the
same image point (and a small cross where the pointer is), so the original and the enhanced
pixels can be compared at one spot. The loupe sits beside the pointer, flips to the other side
near the viewport's edges and never covers the pointer itself.

While a loupe is on, its view drags precisely (``PixelView.set_precise_drag``): the mouse moves
the edited point by one image pixel per ``factor`` screen pixels, so the edge follows the hand at
the loupe's scale, and a one-pixel correction is possible at any zoom.

Off, a loupe costs nothing: no overlay is shown, no signal is connected, no event is filtered.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QLine, QObject, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen, QRegion, QTransform
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from app.ui.box_items import BoxItem, ResizeHandle
from app.ui.pixel_view import BACKGROUND, PixelView

LOUPE_ZOOMS = (4, 6, 8)
"""The factors Ctrl+wheel steps through."""
MIN_FACTOR, MAX_FACTOR = 2, 16
DEFAULT_FACTOR = 6
"""×6: a 32-px window, a whole 30-px face, each pixel a 6-px block."""
GRID_MIN_FACTOR = 6
"""The pixel grid is drawn from this factor on (at ×4 it would be a quarter of every block)."""
SIDE = 192
"""Side of the magnified square in screen pixels (smaller in a small viewport)."""
MIN_SIDE = 48
CAPTION_HEIGHT = 16
GAP = 20
"""Screen pixels between the pointer and the loupe."""
EDGE_WIDTH = 2
"""Box edges in the loupe: 2 px centred on the pixel boundary (one px on each side of it)."""
GRID_COLOR = QColor(128, 128, 128, 90)
FRAME_COLOR = QColor(200, 200, 200)
CAPTION_BG = QColor(0, 0, 0, 200)
CAPTION_FG = QColor(232, 232, 232)
MARK_LIGHT = QColor(255, 255, 255)
MARK_DARK = QColor(0, 0, 0)
TICK = 0.2
"""Sight ticks run this fraction of the side in from the frame towards the pointer's pixel."""


def loupe_side(viewport: QSize) -> int:
    """The magnified square's side for a viewport: at most ``SIDE``, and small enough that the
    loupe always fits beside the pointer on one side (``side + GAP <= width / 2``) and in height;
    0 when the viewport is too small for a useful loupe."""
    side = min(SIDE, viewport.width() // 2 - GAP, viewport.height() - CAPTION_HEIGHT)
    return side if side >= MIN_SIDE else 0


def place_loupe(anchor: QPointF, size: QSize, bounds: QSize) -> QRect:
    """Where a loupe of ``size`` goes for a pointer at ``anchor``: right of and above it, flipped
    left or below where it would leave ``bounds``, then kept inside them. The pointer is never
    inside the result while ``size.width() + GAP <= bounds.width() / 2`` (see ``loupe_side``)."""
    w, h = size.width(), size.height()
    ax, ay = anchor.x(), anchor.y()
    x = ax + GAP if ax + GAP + w <= bounds.width() else ax - GAP - w
    y = ay - GAP - h if ay - GAP - h >= 0 else ay + GAP
    x = min(max(x, 0), bounds.width() - w)
    y = min(max(y, 0), bounds.height() - h)
    return QRect(math.floor(x), math.floor(y), w, h)


class Loupe(QObject):
    """The loupe of one ``PixelView``; ``PairedViews`` links two with ``pointed`` → ``follow``."""

    pointed = Signal(object)
    """The scene point (``QPointF``) this view's pointer stands for, or ``None`` when it left."""
    zoom_step = Signal(int)
    """Ctrl+wheel over the view while on: +1 for a larger factor, -1 for a smaller one."""

    def __init__(self, view: PixelView) -> None:
        super().__init__(view)
        self.view = view
        self._enabled = False
        self._factor = DEFAULT_FACTOR
        self._grid = True
        self._point: QPointF | None = None
        self._anchor: QPointF | None = None
        self._driving = False
        self._rect = QRect()
        self._overlay: _Overlay | None = None
        self._requested = QRegion()
        """What the loupe asked to repaint since the viewport last painted (see ``eventFilter``)."""

    # -- settings ------------------------------------------------------------------------------
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, on: bool) -> None:
        """Show the loupe (from the next pointer move, or now if the mouse is over the view) or
        hide it and drop every hook it had on the view."""
        on = bool(on)
        if on == self._enabled:
            return
        self._enabled = on
        view = self.view
        if on:
            if self._overlay is None:
                self._overlay = _Overlay(self)
            self._overlay.setGeometry(view.viewport().rect())
            self._overlay.show()
            self._overlay.raise_()
            view.cursor_moved.connect(self._on_cursor)
            view.view_changed.connect(self._on_view_changed)
            view.image_changed.connect(self._repaint)
            view.viewport().installEventFilter(self)
            view.set_precise_drag(self._factor)
            mouse = view.mouse_position()
            if view.viewport().underMouse() and mouse is not None:
                self._drive(mouse)
        else:
            view.cursor_moved.disconnect(self._on_cursor)
            view.view_changed.disconnect(self._on_view_changed)
            view.image_changed.disconnect(self._repaint)
            view.viewport().removeEventFilter(self)
            view.set_precise_drag(None)
            self._hide()
            self._overlay.hide()

    def factor(self) -> int:
        return self._factor

    def set_factor(self, factor: int) -> None:
        """Screen pixels per image pixel in the loupe (``MIN_FACTOR``..``MAX_FACTOR``)."""
        if int(factor) != factor or not MIN_FACTOR <= factor <= MAX_FACTOR:
            raise ValueError(f"loupe zoom must be a whole number from {MIN_FACTOR} to {MAX_FACTOR}, got {factor!r}")
        self._factor = int(factor)
        if self._enabled:
            self.view.set_precise_drag(self._factor)
            self._relayout(self._point, self._anchor, self._driving)

    def grid(self) -> bool:
        return self._grid

    def set_grid(self, on: bool) -> None:
        """Draw the pixel grid (from ``GRID_MIN_FACTOR`` on)."""
        self._grid = bool(on)
        self._repaint()

    # -- state ---------------------------------------------------------------------------------
    def point(self) -> QPointF | None:
        """The scene point at the loupe's centre (``None`` while not shown)."""
        return None if self._point is None or self._rect.isEmpty() else QPointF(self._point)

    def rect(self) -> QRect:
        """The loupe's rectangle in viewport coordinates, caption included (empty while not shown)."""
        return QRect(self._rect)

    def pixel_rect(self) -> QRect:
        """The magnified square inside ``rect()`` (without the caption)."""
        r = self._rect
        return QRect() if r.isEmpty() else QRect(r.left(), r.top(), r.width(), r.height() - CAPTION_HEIGHT)

    def is_driving(self) -> bool:
        """Whether this view's pointer places the loupe (rather than the other view's)."""
        return self._driving

    def follow(self, point: QPointF | None) -> None:
        """Show the loupe at scene ``point``, which the other view's pointer stands for (``None``: hide)."""
        if not self._enabled:
            return
        if point is None:
            self._driving = False
            self._hide()
            return
        point = QPointF(point)
        self._relayout(point, self.view.viewport_point(point), driving=False)

    # -- events --------------------------------------------------------------------------------
    def _drive(self, mouse: QPointF) -> None:
        self._relayout(self.view.pointer_point(), QPointF(mouse), driving=True)
        self.pointed.emit(None if self._point is None or self._rect.isEmpty() else QPointF(self._point))

    def _on_cursor(self, _x: float, _y: float) -> None:
        mouse = self.view.mouse_position()
        if mouse is not None:
            self._drive(mouse)

    def _on_view_changed(self) -> None:
        """Zoom or scroll: the pointer now stands for another scene point (or the point moved on screen)."""
        if self._overlay is not None and self._overlay.pos() != QPoint(0, 0):
            self._overlay.move(0, 0)  # viewport scrolling moves child widgets along
        if self._point is None:
            return
        if self._driving:
            mouse = self.view.mouse_position()
            if mouse is not None:
                self._drive(mouse)
        else:
            self.follow(self._point)

    def _on_view_painted(self, region: QRegion) -> None:
        """The viewport repainted ``region``: if that was not the loupe's own doing and it touches
        the magnified window, something there changed (a box edited, selected, hidden): repaint.

        The view's paints rather than the scene's ``changed`` signal: once anything connects to
        that, Qt routes every view's updates through it, and keeps doing so after a disconnect."""
        ours, self._requested = self._requested, QRegion()
        foreign = region.subtracted(ours)
        window = self._window()
        if window is None or foreign.isEmpty():
            return
        if self.view.mapToScene(foreign.boundingRect()).boundingRect().intersects(window):
            self._repaint()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        kind = event.type()
        if kind == QEvent.Type.Paint:
            self._on_view_painted(event.region())
        elif kind == QEvent.Type.Leave and self._driving:
            self._driving = False
            self._hide()
            self.pointed.emit(None)
        elif kind == QEvent.Type.Resize and self._overlay is not None:
            self._overlay.setGeometry(self.view.viewport().rect())
            self._relayout(self._point, self._anchor, self._driving)
        elif kind == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            notches = event.angleDelta().y()
            if notches:
                self.zoom_step.emit(1 if notches > 0 else -1)
            return True  # Ctrl+wheel sets the loupe, not the view's zoom
        return False

    # -- geometry ------------------------------------------------------------------------------
    def _relayout(self, point: QPointF | None, anchor: QPointF | None, driving: bool) -> None:
        """Show the loupe centred on scene ``point``, placed beside viewport point ``anchor``."""
        old = self._dirty_rect()
        self._point, self._anchor, self._driving = point, anchor, driving
        self._rect = QRect()
        if self._point is not None and self._anchor is not None:
            viewport = self.view.viewport().size()
            side = loupe_side(viewport)
            if side and self.view.viewport().rect().contains(self._anchor.toPoint()):
                self._rect = place_loupe(self._anchor, QSize(side, side + CAPTION_HEIGHT), viewport)
        self._update_overlay(old)
        self._update_overlay(self._dirty_rect())

    def _hide(self) -> None:
        old = self._dirty_rect()
        self._point = None
        self._rect = QRect()
        self._update_overlay(old)

    def _repaint(self) -> None:
        self._update_overlay(self._dirty_rect())

    def _update_overlay(self, rect: QRect) -> None:
        if self._overlay is None or rect.isEmpty():
            return
        self._overlay.update(rect)
        self._requested += rect.adjusted(-2, -2, 2, 2)  # (the margin: device-pixel rounding at HiDPI)

    def _dirty_rect(self) -> QRect:
        rect = QRect(self._rect)
        if not rect.isEmpty() and not self._driving and self._anchor is not None:
            a = self._anchor.toPoint()
            rect = rect.united(QRect(a.x() - 8, a.y() - 8, 17, 17))  # the pointer's cross
        return rect

    def _origin(self) -> tuple[int, int]:
        """Whole-pixel offset ``t`` of the loupe mapping ``local = scene * factor + t`` (relative
        to the magnified square): whole, so every image pixel is exactly a factor-sized block."""
        square = self.pixel_rect()
        f = self._factor
        return (round(square.width() / 2 - self._point.x() * f), round(square.height() / 2 - self._point.y() * f))

    def _window(self) -> QRectF | None:
        """The scene rectangle the loupe shows."""
        if self._point is None or self._rect.isEmpty():
            return None
        tx, ty = self._origin()
        square, f = self.pixel_rect(), self._factor
        return QRectF(-tx / f, -ty / f, square.width() / f, square.height() / f)

    # -- painting ------------------------------------------------------------------------------
    def paint(self, painter: QPainter) -> None:
        """Draw the loupe (and, following, the pointer's cross) in viewport coordinates."""
        if self._point is None or self._rect.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        if not self._driving and self._anchor is not None:
            self._paint_cross(painter, self._anchor.toPoint())
        square = self.pixel_rect()
        painter.save()
        painter.setClipRect(square)
        painter.translate(square.topLeft())
        painter.fillRect(QRect(0, 0, square.width(), square.height()), BACKGROUND)
        tx, ty = self._origin()
        f = self._factor
        window = self._window()
        self._paint_pixels(painter, f, tx, ty, window)
        if self._grid and f >= GRID_MIN_FACTOR:
            self._paint_grid(painter, f, tx, ty, square.size())
        self._paint_boxes(painter, f, tx, ty, window)
        self._paint_mark(painter, f, tx, ty, square.size())
        painter.restore()
        painter.setPen(QPen(FRAME_COLOR, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(square.adjusted(0, 0, -1, -1))
        self._paint_caption(painter)

    def _paint_pixels(self, painter: QPainter, f: int, tx: int, ty: int, window: QRectF) -> None:
        """The image (and right of the compare split, the compare image), nearest neighbour."""
        view = self.view
        target = view.sceneRect()
        image = view.image()
        if image is None or target.isEmpty():
            return
        painter.save()
        painter.setTransform(QTransform(f, 0, 0, f, tx, ty), True)
        # whole scene pixels: the source rectangle of a full-size image is then whole pixels too
        shown = QRectF(QPointF(math.floor(window.left()), math.floor(window.top())),
                       QPointF(math.ceil(window.right()), math.ceil(window.bottom())))
        _draw_part(painter, image, target, shown.intersected(target))
        split = view.split_scene_x()
        compare = view.compare_image()
        if compare is not None and split is not None:
            right = QRectF(QPointF(split, shown.top()), shown.bottomRight()).intersected(target)
            if right.width() > 0:
                painter.setClipRect(right, Qt.ClipOperation.IntersectClip)
                _draw_part(painter, compare, target, right)
        painter.restore()
        if compare is not None and split is not None and window.left() <= split <= window.right():
            painter.setPen(QPen(QColor(255, 255, 255, 200), 1))
            x = round(split * f + tx)
            painter.drawLine(x, 0, x, round(window.height() * f))

    @staticmethod
    def _paint_grid(painter: QPainter, f: int, tx: int, ty: int, size: QSize) -> None:
        """A faint line on the first column and row of every pixel's block."""
        painter.setPen(QPen(GRID_COLOR, 1))
        w, h = size.width(), size.height()
        painter.drawLines([QLine(x, 0, x, h) for x in range(tx % f, w, f)]
                          + [QLine(0, y, w, y) for y in range(ty % f, h, f)])

    def _paint_boxes(self, painter: QPainter, f: int, tx: int, ty: int, window: QRectF) -> None:
        """Box outlines on the pixel boundaries (the box's inclusive extent lies inside), in their
        colours; the draw-mode rubber band too."""
        scene = self.view.scene()
        if scene is None:
            return
        painter.setBrush(Qt.BrushStyle.NoBrush)
        margin = 2 / f
        for item in scene.items(window.adjusted(-margin, -margin, margin, margin)):
            if not item.isVisible() or isinstance(item, ResizeHandle):
                continue
            if isinstance(item, BoxItem):
                color, style = item.outline_style()
                width = EDGE_WIDTH + (1 if item.isSelected() else 0)
                left, top, right, bottom = item.edges()
            elif isinstance(item, QGraphicsRectItem):  # the rubber band of a box being drawn
                color, style, width = item.pen().color(), Qt.PenStyle.DashLine, 1
                r = item.mapRectToScene(item.rect())
                left, top, right, bottom = r.left(), r.top(), r.right(), r.bottom()
            else:
                continue
            painter.setPen(QPen(color, width, style, Qt.PenCapStyle.FlatCap, Qt.PenJoinStyle.MiterJoin))
            x1, y1 = round(left * f + tx), round(top * f + ty)
            x2, y2 = round(right * f + tx), round(bottom * f + ty)
            painter.drawRect(QRect(x1, y1, x2 - x1, y2 - y1))

    def _paint_mark(self, painter: QPainter, f: int, tx: int, ty: int, size: QSize) -> None:
        """A light-and-dark frame just outside the pointer's pixel, and sight ticks from the frame
        of the loupe towards it (nothing covers the pixel itself)."""
        px, py = math.floor(self._point.x()), math.floor(self._point.y())
        block = QRect(px * f + tx, py * f + ty, f, f)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(MARK_LIGHT, 1))
        painter.drawRect(block.adjusted(-1, -1, 0, 0))  # a 1-px ring around the f×f block
        painter.setPen(QPen(MARK_DARK, 1))
        painter.drawRect(block.adjusted(-2, -2, 1, 1))
        cx, cy = block.left() + f // 2, block.top() + f // 2
        tick_w, tick_h = round(size.width() * TICK), round(size.height() * TICK)
        for pen in (QPen(MARK_DARK, 3), QPen(MARK_LIGHT, 1)):
            painter.setPen(pen)
            painter.drawLine(cx, 0, cx, tick_h)
            painter.drawLine(cx, size.height() - tick_h, cx, size.height())
            painter.drawLine(0, cy, tick_w, cy)
            painter.drawLine(size.width() - tick_w, cy, size.width(), cy)

    def _paint_caption(self, painter: QPainter) -> None:
        r = self._rect
        strip = QRect(r.left(), r.bottom() - CAPTION_HEIGHT + 1, r.width(), CAPTION_HEIGHT)
        painter.fillRect(strip, CAPTION_BG)
        px, py = math.floor(self._point.x()), math.floor(self._point.y())
        text = f"{px}, {py}"
        value = self._value_at(px, py)
        if value is not None:
            text += f"   {value[0]} {value[1]} {value[2]}"
        text += f"   ×{self._factor}"
        font = QFont(painter.font())
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(CAPTION_FG)
        painter.drawText(strip.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)

    def _value_at(self, px: int, py: int) -> tuple[int, int, int] | None:
        """The shown image's RGB at scene pixel ``px, py`` (the compare image right of the split)."""
        view = self.view
        target = view.sceneRect()
        image = view.image()
        split = view.split_scene_x()
        if view.compare_image() is not None and split is not None and px + 0.5 >= split:
            image = view.compare_image()
        if image is None or target.isEmpty() or not target.contains(QPointF(px + 0.5, py + 0.5)):
            return None
        x = math.floor((px + 0.5 - target.left()) * image.width() / target.width())
        y = math.floor((py + 0.5 - target.top()) * image.height() / target.height())
        color = image.pixelColor(min(x, image.width() - 1), min(y, image.height() - 1))
        return color.red(), color.green(), color.blue()

    @staticmethod
    def _paint_cross(painter: QPainter, at: QPoint) -> None:
        """Where the other view's pointer is, in this view (it has no mouse cursor of its own)."""
        for pen in (QPen(MARK_DARK, 3), QPen(MARK_LIGHT, 1)):
            painter.setPen(pen)
            painter.drawLine(at.x() - 7, at.y(), at.x() - 3, at.y())
            painter.drawLine(at.x() + 3, at.y(), at.x() + 7, at.y())
            painter.drawLine(at.x(), at.y() - 7, at.x(), at.y() - 3)
            painter.drawLine(at.x(), at.y() + 3, at.x(), at.y() + 7)


def _draw_part(painter: QPainter, image: QImage, target: QRectF, part: QRectF) -> None:
    """Draw scene rectangle ``part`` of ``image``, which the view stretches over ``target``.

    The part is widened to whole pixels of ``image``: a preview pixel starting half-way into
    the source would be sampled off its own grid and its block cut short."""
    if part.isEmpty():
        return
    sx, sy = image.width() / target.width(), image.height() / target.height()
    left = math.floor((part.left() - target.left()) * sx)
    top = math.floor((part.top() - target.top()) * sy)
    right = min(math.ceil((part.right() - target.left()) * sx), image.width())
    bottom = min(math.ceil((part.bottom() - target.top()) * sy), image.height())
    source = QRectF(left, top, right - left, bottom - top)
    painter.drawImage(QRectF(target.left() + left / sx, target.top() + top / sy, source.width() / sx,
                             source.height() / sy), image, source)


class _Overlay(QWidget):
    """A transparent child of the viewport the loupe paints on; the mouse goes through it."""

    def __init__(self, loupe: Loupe) -> None:
        super().__init__(loupe.view.viewport())
        self.setObjectName("loupeOverlay")
        self._loupe = loupe
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hide()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        if not event.rect().intersects(self._loupe._dirty_rect()):
            return  # a repaint of the view elsewhere (a box moved far from the pointer)
        painter = QPainter(self)
        try:
            self._loupe.paint(painter)
        finally:
            painter.end()


__all__ = ["DEFAULT_FACTOR", "GRID_MIN_FACTOR", "LOUPE_ZOOMS", "Loupe", "loupe_side", "place_loupe"]
