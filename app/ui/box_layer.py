"""All unselected boxes of an image drawn by one item, in a handful of batched calls.

A ``QGraphicsItem`` per box keeps selection, dragging and resizing simple, but painting 2,000
of them means 2,000 Python ``paint`` calls per view per frame (~100 ms for two views). So box
items do not paint themselves unless selected (``ItemHasNoContents``); this layer draws every
other visible box with one ``drawRects`` per colour and style, and the score labels as cached
``QStaticText`` in screen space (readable at any zoom). The scene calls ``invalidate()`` whenever
boxes, visibility, labels or the selection change; between changes a repaint reuses the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

if TYPE_CHECKING:
    from app.ui.box_items import BoxItem

LABEL_GAP = 1
"""Screen pixels between a score label and the top edge of its box."""
LABEL_MARGIN = (800, 400)
"""Scene pixels right of and above the image that labels may reach (see ``boundingRect``)."""
CHANGE_COLOR = QColor(255, 0, 255)
"""Magenta: what a re-detection changed (a halo under new boxes, dashes where boxes went)."""
CHANGE_HALO_WIDTH = 6


def outline_pen(color: QColor, style: Qt.PenStyle, width: float) -> QPen:
    """A cosmetic pen: the same on-screen width at every zoom."""
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


class BoxOutlineLayer(QGraphicsItem):
    """Paints the boxes ``items()`` returns that are visible and not selected; never hit by the mouse."""

    def __init__(self, items: Callable[[], Iterable[BoxItem]], pen_width: float) -> None:
        super().__init__()
        self._items = items
        self._pen_width = pen_width
        self._rect = QRectF()
        self._batch: tuple | None = None
        self._changed_ids: frozenset[int] = frozenset()
        self._gone: list[QRectF] = []
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)  # exposedRect
        self.setZValue(-1)  # below selected boxes, which paint themselves

    def set_rect(self, rect: QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QRectF(rect)
        self.invalidate()

    def set_changes(self, new_ids: Iterable[int], gone: Iterable[tuple[float, float, float, float]]) -> None:
        """Highlight boxes ``new_ids`` and mark where boxes ``gone`` were (inclusive extents)."""
        new_ids = frozenset(new_ids)
        gone = [QRectF(x1, y1, x2 - x1 + 1, y2 - y1 + 1) for x1, y1, x2, y2 in gone]
        if (new_ids, gone) != (self._changed_ids, self._gone):  # every image switch asks; most have none
            self._changed_ids, self._gone = new_ids, gone
            self.invalidate()

    def changes(self) -> tuple[frozenset[int], list[QRectF]]:
        return self._changed_ids, list(self._gone)

    def invalidate(self) -> None:
        self._batch = None
        self.update()

    def boundingRect(self) -> QRectF:
        # labels sit above a box's top edge and run right, in screen pixels: at low zoom that is
        # many image pixels, so a generous margin keeps them inside the repaint (down to ~5 % zoom)
        return self._rect.adjusted(0, -LABEL_MARGIN[1], LABEL_MARGIN[0], 0)

    def shape(self) -> QPainterPath:
        return QPainterPath()  # never found by itemAt(): clicks go to the boxes under it

    def _build(self) -> tuple:
        rects: dict[tuple[int, Qt.PenStyle], tuple[QColor, list[QRectF]]] = {}
        labels, anchors, halos = [], [], []
        for item in self._items():
            if not item.isVisible():
                continue
            pos, rect = item.pos(), item.rect()
            if item.box.id in self._changed_ids:
                halos.append(QRectF(pos.x(), pos.y(), rect.width(), rect.height()))
            if item.isSelected():
                continue
            color, style = item.outline_style()
            key = (color.rgba(), style)
            if key not in rects:
                rects[key] = (color, [])
            rects[key][1].append(QRectF(pos.x(), pos.y(), rect.width(), rect.height()))
            text = item.label_static_text()
            if text is not None:
                labels.append((text, color))
                anchors.append((pos.x(), pos.y(), text.size().height() + LABEL_GAP))
        return rects, (labels, np.asarray(anchors, np.float64).reshape(-1, 3)), halos

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._batch is None:
            self._batch = self._build()
        rects, (labels, anchors), halos = self._batch
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if halos:
            halo = outline_pen(CHANGE_COLOR, Qt.PenStyle.SolidLine, CHANGE_HALO_WIDTH)
            halo.setColor(QColor(255, 0, 255, 150))
            painter.setPen(halo)
            painter.drawRects(halos)
        if self._gone:
            painter.setPen(outline_pen(CHANGE_COLOR, Qt.PenStyle.DashLine, self._pen_width))
            painter.drawRects(self._gone)
        for (_rgba, style), (color, group) in rects.items():
            painter.setPen(outline_pen(color, style, self._pen_width))
            painter.drawRects(group)
        if labels:
            self._paint_labels(painter, option.exposedRect, labels, anchors)

    @staticmethod
    def _paint_labels(painter: QPainter, exposed_scene: QRectF, labels: list, anchors: np.ndarray) -> None:
        """Labels in screen space; positions mapped with numpy (views only scale and translate)."""
        transform = painter.worldTransform()
        x = transform.m11() * anchors[:, 0] + transform.m21() * anchors[:, 1] + transform.dx()
        y = transform.m12() * anchors[:, 0] + transform.m22() * anchors[:, 1] + transform.dy() - anchors[:, 2]
        exposed = transform.mapRect(exposed_scene).adjusted(-60, -40, 60, 40)
        inside = np.flatnonzero((x >= exposed.left()) & (x <= exposed.right())
                                & (y >= exposed.top()) & (y <= exposed.bottom()))
        painter.resetTransform()
        current = None
        for i in inside.tolist():
            text, color = labels[i]
            if color is not current:
                painter.setPen(color)
                current = color
            painter.drawStaticText(QPointF(x[i], y[i]), text)
        painter.setWorldTransform(transform)
