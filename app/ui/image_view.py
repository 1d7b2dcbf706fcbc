"""Zoomable, pannable view of one image with its ground-truth boxes drawn on top.

A ``QGraphicsView`` (not a QLabel with a scaled pixmap) so zooming to inspect a 10-pixel face
stays cheap and boxes stay exact at any scale; the review GUI will add detection items to the
same scene.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

BOX_COLOR = QColor(64, 255, 64)
"""Bright green: stands out on near-black night images and on the gray of enhanced ones."""
BOX_PEN_WIDTH = 2
BACKGROUND = QColor(24, 24, 24)
MESSAGE_COLOR = QColor(230, 230, 230)
MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
WHEEL_STEP = 1.25
"""Zoom factor per wheel notch (120 units of angle delta)."""


class ImageView(QGraphicsView):
    """Shows an image plus one rectangle per ground-truth box.

    Wheel zooms around the cursor, dragging pans. A freshly shown image is fitted to the view
    and stays fitted on resize until the user zooms, so a new image is always fully visible.
    """

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(BACKGROUND)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        # zoom_by keeps the point under the cursor itself: Qt's AnchorUnderMouse reads the real
        # cursor position, not the event position, so synthetic wheel events would zoom elsewhere.
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self._box_items: list[QGraphicsRectItem] = []
        self._boxes_visible = True
        self._fitted = False

    # -- content -------------------------------------------------------------------------
    def set_image(self, image: QImage, boxes: np.ndarray | None = None) -> None:
        """Show ``image`` with ``boxes`` (K, 4) ``x1 y1 x2 y2`` inclusive pixels, fitted to the view."""
        self._clear()
        self._pixmap_item = self._scene.addPixmap(QPixmap.fromImage(image))
        self._pixmap_item.setZValue(0)
        pen = QPen(BOX_COLOR, BOX_PEN_WIDTH)
        pen.setCosmetic(True)  # same on-screen width at every zoom
        rows = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, dtype=float).reshape(-1, 4)
        for x1, y1, x2, y2 in rows:
            # Inclusive extents: columns x1..x2 cover x2 - x1 + 1 pixels.
            item = self._scene.addRect(QRectF(x1, y1, x2 - x1 + 1, y2 - y1 + 1), pen)
            item.setZValue(1)
            item.setVisible(self._boxes_visible)
            self._box_items.append(item)
        self._scene.setSceneRect(QRectF(image.rect()))
        self.fit()

    def show_message(self, text: str) -> None:
        """Replace the content with ``text`` (an error, or why there is nothing to show)."""
        self._clear()
        item = QGraphicsSimpleTextItem(text)
        item.setBrush(MESSAGE_COLOR)
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._scene.addItem(item)
        self._scene.setSceneRect(item.boundingRect())
        self.resetTransform()
        self._fitted = False
        self.zoom_changed.emit(self.zoom())

    def message(self) -> str | None:
        """The text shown by ``show_message``, or ``None`` when an image is shown."""
        for item in self._scene.items():
            if isinstance(item, QGraphicsSimpleTextItem):
                return item.text()
        return None

    def _clear(self) -> None:
        self._scene.clear()
        self._pixmap_item = None
        self._box_items = []

    def has_image(self) -> bool:
        return self._pixmap_item is not None

    def box_count(self) -> int:
        """Number of ground-truth box items in the scene (shown or hidden)."""
        return len(self._box_items)

    def box_rects(self) -> list[QRectF]:
        """Scene rectangles of the box items, in label order."""
        return [item.rect() for item in self._box_items]

    # -- boxes visibility ------------------------------------------------------------------
    def set_boxes_visible(self, visible: bool) -> None:
        """Show or hide all boxes; the choice carries over to the next image."""
        self._boxes_visible = visible
        for item in self._box_items:
            item.setVisible(visible)

    def boxes_visible(self) -> bool:
        return self._boxes_visible

    # -- zoom ------------------------------------------------------------------------------
    def zoom(self) -> float:
        """Current scale: 1.0 shows one image pixel per screen pixel."""
        return self.transform().m11()

    def fit(self) -> None:
        """Scale so the whole image is visible; keeps fitting on resize until the user zooms."""
        if self._pixmap_item is None:
            return
        self.fitInView(self._pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self._zoom_settled()

    def actual_size(self) -> None:
        """One image pixel per screen pixel, keeping the view centre."""
        if self._pixmap_item is None:
            return
        center = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(center)
        self._fitted = False
        self._zoom_settled()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Multiply the zoom by ``factor`` (clamped), keeping the scene point under ``anchor`` fixed.

        ``anchor`` is a viewport position; ``None`` zooms around the view centre.
        """
        if self._pixmap_item is None:
            return
        current = self.zoom()
        factor = min(max(current * factor, MIN_ZOOM), MAX_ZOOM) / current
        if factor == 1.0:
            return
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else anchor
        before = self.mapToScene(anchor.toPoint())
        self.scale(factor, factor)
        # Scroll so the scene point that was under the anchor is under it again.
        after = self.mapToScene(anchor.toPoint())
        delta = (after - before) * self.zoom()
        hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
        hbar.setValue(hbar.value() - round(delta.x()))
        vbar.setValue(vbar.value() - round(delta.y()))
        self._fitted = False
        self._zoom_settled()

    def _zoom_settled(self) -> None:
        if self._pixmap_item is not None:
            # Smooth when shrinking (no aliasing); nearest when magnifying, to see real pixels.
            smooth = self.zoom() < 1
            mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
            self._pixmap_item.setTransformationMode(mode)
            self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        self.zoom_changed.emit(self.zoom())

    # -- events ----------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if notches == 0 or self._pixmap_item is None:
            super().wheelEvent(event)
            return
        self.zoom_by(WHEEL_STEP**notches, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()
