"""One editable box on the image: a rectangle item in image-pixel scene coordinates.

Boxes are inclusive pixel extents (``x1..x2`` covers ``x2 - x1 + 1`` columns), so the item's
rectangle runs from the left edge of pixel ``x1`` to the right edge of pixel ``x2``. The item
sits at ``pos() = (x1, y1)`` with ``rect() = (0, 0, w, h)``: moving it only changes ``pos``.

Pens are cosmetic and the handles and score label ignore the view transform, so outlines stay
thin, handles stay grabbable and scores stay readable at any zoom, in every view of the scene.
A box paints itself only while selected; otherwise ``BoxOutlineLayer`` draws it in a batch
with all the others (2,000 Python ``paint`` calls per frame were the bottleneck).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QStaticText, QTransform
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsSceneMouseEvent,
    QGraphicsSimpleTextItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.store.boxes import BoxData
from app.ui.box_layer import LABEL_GAP, outline_pen

PALETTE: dict[str, tuple[QColor, Qt.PenStyle]] = {
    "accepted": (QColor(64, 255, 64), Qt.PenStyle.SolidLine),  # a face, whoever found it
    "model_proposed": (QColor(255, 176, 0), Qt.PenStyle.SolidLine),  # amber: waiting for review
    "pseudo_proposed": (QColor(0, 224, 255), Qt.PenStyle.SolidLine),  # cyan: teacher's pseudo-label
    "rejected": (QColor(255, 64, 64), Qt.PenStyle.DashLine),  # red dashed: not a face
    "other": (QColor(200, 200, 200), Qt.PenStyle.SolidLine),  # e.g. a proposed human box
}
"""Outline colour and style by review meaning; ``style_of`` maps a box onto a key."""
IGNORE_STYLE = Qt.PenStyle.DotLine
"""Ignored boxes ('don't care' regions) keep their colour but are dotted."""
PEN_WIDTH = 2
SELECTED_PEN_WIDTH = 3
SELECTED_FILL_ALPHA = 40
HANDLE_SIZE = 9
"""Handle side in screen pixels (constant at every zoom)."""
HANDLE_ROLES = ((0, 0), (0.5, 0), (1, 0), (1, 0.5), (1, 1), (0.5, 1), (0, 1), (0, 0.5))
"""Handle anchors as fractions of (width, height): corners and edge midpoints."""
_CURSORS = {
    (0, 0): Qt.CursorShape.SizeFDiagCursor, (1, 1): Qt.CursorShape.SizeFDiagCursor,
    (1, 0): Qt.CursorShape.SizeBDiagCursor, (0, 1): Qt.CursorShape.SizeBDiagCursor,
    (0.5, 0): Qt.CursorShape.SizeVerCursor, (0.5, 1): Qt.CursorShape.SizeVerCursor,
    (0, 0.5): Qt.CursorShape.SizeHorCursor, (1, 0.5): Qt.CursorShape.SizeHorCursor,
}


_BOX_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
_NO_BOUNDS = (-math.inf, -math.inf, math.inf, math.inf)


def snap(value: float) -> float:
    """Nearest whole pixel edge, halves rounded up (``round`` would send 2.5 down and 3.5 up)."""
    return float(math.floor(value + 0.5))


def style_of(box: BoxData) -> tuple[QColor, Qt.PenStyle]:
    """Colour and pen style for a box, from its state and source (see ``PALETTE``)."""
    if box.state == "accepted":
        key = "accepted"
    elif box.state == "rejected":
        key = "rejected"
    elif box.state == "proposed" and box.source in ("model", "pseudo"):
        key = f"{box.source}_proposed"
    else:
        key = "other"
    color, style = PALETTE[key]
    return color, (IGNORE_STYLE if box.ignore and style == Qt.PenStyle.SolidLine else style)


Edges = tuple[float, float, float, float]
"""``(left, top, right, bottom)`` scene edges; right/bottom are exclusive (``x2 + 1``)."""


class ResizeHandle(QGraphicsRectItem):
    """A small square on a selected box; dragging it moves the box edges it sits on."""

    def __init__(self, box: BoxItem, role: tuple[float, float]) -> None:
        half = HANDLE_SIZE / 2
        super().__init__(-half, -half, HANDLE_SIZE, HANDLE_SIZE, box)
        self.role = role
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setCursor(_CURSORS[role])
        self.setBrush(QBrush(QColor(255, 255, 255)))
        pen = QPen(QColor(0, 0, 0), 1)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(2)
        self.hide()

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        event.accept()  # become the mouse grabber; otherwise the press falls through to the box
        self.parentItem().begin_resize()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        delta = event.scenePos() - event.buttonDownScenePos(Qt.MouseButton.LeftButton)
        self.parentItem().resize_by(self.role, delta)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        event.accept()


class BoxItem(QGraphicsRectItem):
    """The item for one ``BoxData``: selectable, movable, resizable, kept inside the image."""

    def __init__(self, box: BoxData, bounds: QRectF | None = None) -> None:
        super().__init__()
        self.setFlags(_BOX_FLAGS)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        outline = QPen(QColor(0, 0, 0), SELECTED_PEN_WIDTH)
        outline.setCosmetic(True)
        self.setPen(outline)  # only sizes boundingRect(); paint() picks the real pen
        self._bounds = _NO_BOUNDS
        if bounds is not None:
            self.set_bounds(bounds)
        self._resize_from: Edges | None = None
        self._label_wanted = True
        self._label: QStaticText | None = None
        self._label_item: QGraphicsSimpleTextItem | None = None  # the selected box's label (made on demand)
        self._self_painted = False
        self.set_self_painted(False)
        self._handles: list[ResizeHandle] = []  # made on first selection: 2,000 boxes x 8 items is slow
        self.box = box
        self.set_box(box)

    # -- data --------------------------------------------------------------------------------
    def set_box(self, box: BoxData) -> None:
        """Show ``box`` (as stored): geometry, colour, score label."""
        self.box = box
        self.set_edges((box.x1, box.y1, box.x2 + 1, box.y2 + 1))
        self._shown_edges = self.edges()
        color, style = style_of(box)
        self._color = color
        self._pen_style = style
        self._label = None if box.score is None else QStaticText(f"{box.score:.2f}")
        self._sync_label_item()
        self.update()

    def matches(self, box: BoxData) -> bool:
        """Whether the item shows exactly ``box`` (same data, not moved since)."""
        return self.box == box and self.edges() == self._shown_edges

    @property
    def handles(self) -> list[ResizeHandle]:
        """The eight resize handles (empty until the box is first selected)."""
        return self._handles

    def set_label_visible(self, visible: bool) -> None:
        self._label_wanted = visible
        self._sync_label_item()
        self.update()

    def label_text(self) -> str:
        """The score label as shown (``""`` when the box has no score or labels are hidden)."""
        text = self.label_static_text()
        return "" if text is None else text.text()

    def label_static_text(self) -> QStaticText | None:
        return self._label if self._label_wanted else None

    def outline_style(self) -> tuple[QColor, Qt.PenStyle]:
        return self._color, self._pen_style

    def set_self_painted(self, painted: bool) -> None:
        """Paint this box itself (while selected) or leave it to the scene's outline layer."""
        self._self_painted = painted
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, not painted)
        self._sync_label_item()

    def _sync_label_item(self) -> None:
        """While the box paints itself, its label is a child text item: Qt then repaints the label's
        old and new places as the box is dragged (a label painted by the box would leave ghosts, as
        it lies outside the box's bounding rectangle)."""
        text = self.label_static_text()
        wanted = self._self_painted and text is not None
        if wanted and self._label_item is None:
            item = QGraphicsSimpleTextItem(self)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            item.setZValue(1)
            self._label_item = item
        if self._label_item is not None:
            if wanted:
                self._label_item.setText(text.text())
                self._label_item.setBrush(QBrush(self._color))
                height = self._label_item.boundingRect().height()
                self._label_item.setTransform(QTransform.fromTranslate(0, -height - LABEL_GAP))
            self._label_item.setVisible(wanted)

    def set_bounds(self, bounds: QRectF) -> None:
        """The image rectangle (``0, 0, width, height``) the box must stay inside."""
        b = bounds
        self._bounds = _NO_BOUNDS if b.isEmpty() else (b.left(), b.top(), b.right(), b.bottom())

    # -- geometry ----------------------------------------------------------------------------
    def edges(self) -> Edges:
        p, r = self.pos(), self.rect()
        return (p.x(), p.y(), p.x() + r.width(), p.y() + r.height())

    def xyxy(self) -> tuple[float, float, float, float]:
        """The box as shown, in inclusive pixel extents (what the store keeps)."""
        left, top, right, bottom = self.edges()
        # rounded: float noise must not push x2 past width - 1 (the store refuses that)
        return tuple(round(v, 6) for v in (left, top, right - 1, bottom - 1))

    def set_edges(self, edges: Edges) -> None:
        left, top, right, bottom = edges
        self.prepareGeometryChange()
        self.setRect(QRectF(0, 0, right - left, bottom - top))
        self.setPos(left, top)
        self.setZValue(-(right - left) * (bottom - top) * 1e-9)  # smaller boxes on top: nested ones stay clickable
        self._place_handles()

    def _place_handles(self) -> None:
        w, h = self.rect().width(), self.rect().height()
        for handle in self._handles:
            handle.setPos(handle.role[0] * w, handle.role[1] * h)

    def snap_to_pixels(self) -> None:
        """Round the position to whole pixels (after a drag), keeping the size and staying inside."""
        self.setPos(snap(self.pos().x()), snap(self.pos().y()))
        self.keep_inside()

    def begin_resize(self) -> None:
        self._resize_from = self.edges()

    def resize_by(self, role: tuple[float, float], delta: QPointF) -> None:
        """Move the edges under handle ``role`` by ``delta`` from where the drag began (whole pixels)."""
        if self._resize_from is None:
            self.begin_resize()
        left, top, right, bottom = self._resize_from
        lo_x, lo_y, hi_x, hi_y = self._bounds
        if role[0] == 0:
            left = min(max(snap(left + delta.x()), lo_x), right - 1)
        elif role[0] == 1:
            right = max(min(snap(right + delta.x()), hi_x), left + 1)
        if role[1] == 0:
            top = min(max(snap(top + delta.y()), lo_y), bottom - 1)
        elif role[1] == 1:
            bottom = max(min(snap(bottom + delta.y()), hi_y), top + 1)
        self.set_edges((left, top, right, bottom))

    def keep_inside(self) -> None:
        """Put the box back inside the image if a drag took it past the border (size kept)."""
        lo_x, lo_y, hi_x, hi_y = self._bounds
        p, r = self.pos(), self.rect()
        x = min(max(p.x(), lo_x), max(lo_x, hi_x - r.width()))
        y = min(max(p.y(), lo_y), max(lo_y, hi_y - r.height()))
        if x != p.x() or y != p.y():
            self.setPos(x, y)

    def show_handles(self, visible: bool) -> None:
        if visible and not self._handles:
            self._handles = [ResizeHandle(self, role) for role in HANDLE_ROLES]
            self._place_handles()
        for handle in self._handles:
            handle.setVisible(visible)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseMoveEvent(event)  # Qt moves every selected movable item by the drag
        # clamped here rather than in itemChange(): a Python itemChange runs ~10 times per item built
        for item in self.scene().selectedItems():
            if isinstance(item, BoxItem):
                item.keep_inside()

    # -- painting ----------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        # drawn by hand: Qt's default adds a dashed selection frame that hides thin boxes
        selected = self.isSelected()
        painter.setPen(outline_pen(self._color, self._pen_style, SELECTED_PEN_WIDTH if selected else PEN_WIDTH))
        if selected:
            fill = QColor(self._color)
            fill.setAlpha(SELECTED_FILL_ALPHA)
            painter.setBrush(fill)
        else:
            painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self.rect())


__all__ = ["BoxItem", "HANDLE_ROLES", "HANDLE_SIZE", "PALETTE", "ResizeHandle", "snap", "style_of"]
