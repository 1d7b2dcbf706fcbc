"""The scene of editable boxes for one image, shared by every view that shows it.

It holds ``BoxItem``s only: views paint the image as their background, so the original and
the enhanced view show one scene and an edit made in either is the same item in both. The
scene does not write anything; it reports finished gestures as signals (``box_drawn``,
``geometry_edited``) and ``BoxEditor`` turns them into undoable store edits.

``set_boxes`` updates items in place (keyed by box id) instead of rebuilding the scene, so
refreshing after every edit keeps the selection, and a refresh that arrives while an item is
handling a mouse event never deletes that item under it.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsSceneMouseEvent, QGraphicsView

from app.store.boxes import BoxData
from app.ui.box_items import PEN_WIDTH, BoxItem, Edges, ResizeHandle, snap
from app.ui.box_layer import BoxOutlineLayer

MODES = ("select", "draw")
MIN_DRAWN_SIZE = 2
"""A drawn box narrower or lower than this (image pixels) is taken as a click and ignored."""
RUBBER_COLOR = QColor(255, 255, 255)
SCORED_SOURCES = ("model", "pseudo")
"""Sources whose proposals the confidence threshold hides."""


class BoxScene(QGraphicsScene):
    """Box items over an image of ``set_image_size``; modes ``select`` and ``draw``."""

    box_drawn = Signal(float, float, float, float)
    """A new box, inclusive pixel extents ``x1, y1, x2, y2``."""
    geometry_edited = Signal(int, object)
    """``(box_id, (x1, y1, x2, y2))`` after a move or resize ended (whole pixels)."""
    edit_batch = Signal(bool)
    visibility_changed = Signal()
    """The min score or the show-boxes toggle changed which boxes the views show."""
    mode_changed = Signal(str)
    """``"select"`` or ``"draw"``: the toolbar's toggle and the cursor follow it."""
    """``True`` before and ``False`` after several ``geometry_edited`` from one gesture."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: dict[int, BoxItem] = {}
        self._mode = "select"
        self._threshold = 0.0
        self._shown_run: int | None = None
        self._boxes_visible = True
        self._labels_visible = True
        self._rubber: QGraphicsRectItem | None = None
        self._rubber_from = QPointF()
        self._pressed: dict[BoxItem, Edges] = {}
        self._with_handles: set[BoxItem] = set()
        self.outlines = BoxOutlineLayer(lambda: self._items.values(), PEN_WIDTH)
        self.addItem(self.outlines)
        self.selectionChanged.connect(self._update_handles)

    # -- content -----------------------------------------------------------------------------
    def set_image_size(self, width: int, height: int) -> None:
        self.setSceneRect(QRectF(0, 0, width, height))
        self.outlines.set_rect(self.sceneRect())
        for item in self._items.values():
            item.set_bounds(self.sceneRect())

    def image_size(self) -> tuple[int, int]:
        r = self.sceneRect()
        return (round(r.width()), round(r.height()))

    def set_boxes(self, boxes: Iterable[BoxData]) -> None:
        """Show exactly ``boxes``: unchanged ones are left alone, others updated, added or removed.

        A reload that changes nothing keeps the outline layer's batch (no rebuild on the next paint).
        """
        wanted = {b.id: b for b in boxes}
        gone = [i for i in self._items if i not in wanted]
        changed = bool(gone)
        for box_id in gone:
            item = self._items.pop(box_id)
            self._pressed.pop(item, None)
            self._with_handles.discard(item)
            self.removeItem(item)
        bounds = self.sceneRect()
        for box_id, box in wanted.items():
            item = self._items.get(box_id)
            if item is None:
                item = BoxItem(box, bounds)
                item.set_label_visible(self._labels_visible)
                self.addItem(item)
                self._items[box_id] = item
            elif not item.matches(box):
                item.set_box(box)
            else:
                continue
            item.setVisible(self._shows(box))
            changed = True
        if changed:
            self.outlines.invalidate()

    def clear_boxes(self) -> None:
        self.set_boxes(())

    def box_items(self) -> list[BoxItem]:
        return list(self._items.values())

    def item_for(self, box_id: int) -> BoxItem | None:
        return self._items.get(box_id)

    def box(self, box_id: int) -> BoxData | None:
        item = self._items.get(box_id)
        return None if item is None else item.box

    def boxes(self) -> list[BoxData]:
        return [item.box for item in self._items.values()]

    # -- selection ---------------------------------------------------------------------------
    def selected_boxes(self) -> list[BoxData]:
        """Selected boxes, in id order."""
        return sorted((i.box for i in self.selectedItems() if isinstance(i, BoxItem)), key=lambda b: b.id)

    def select_only(self, box_ids: Iterable[int]) -> None:
        ids = set(box_ids)
        self.blockSignals(True)
        try:
            self.clearSelection()
        finally:
            self.blockSignals(False)
        for box_id in ids:
            item = self._items.get(box_id)
            if item is not None and item.isVisible():
                item.setSelected(True)
        self.selectionChanged.emit()

    def _update_handles(self) -> None:
        selected = {i for i in self.selectedItems() if isinstance(i, BoxItem)}
        for item in self._with_handles - selected:
            item.show_handles(False)
            item.set_self_painted(False)
        for item in selected - self._with_handles:
            item.show_handles(True)
            item.set_self_painted(True)
        if selected != self._with_handles:
            self.outlines.invalidate()
        self._with_handles = selected

    # -- display filters ---------------------------------------------------------------------
    def set_confidence_threshold(self, threshold: float) -> None:
        """Hide model and pseudo proposals scored below ``threshold`` (reviewed boxes always show)."""
        self._threshold = float(threshold)
        self._refresh_visibility()

    def confidence_threshold(self) -> float:
        return self._threshold

    def set_shown_run(self, run_id: int | None) -> None:
        """Show the undecided proposals of detection run ``run_id`` only (``None``: of every run).

        Two runs on one image (raw and enhanced, or two models) would draw two look-alike sets;
        boxes a person decided on (accepted, rejected, edited) show whatever run made them.
        """
        self._shown_run = run_id
        self._refresh_visibility()

    def shown_run(self) -> int | None:
        return self._shown_run

    def hidden_below_threshold(self) -> int:
        """Proposals of the shown run(s) that the min score hides (the views say how many)."""
        return sum(1 for item in self._items.values()
                   if self._of_shown_run(item.box) and self.hidden_by_score(item.box))

    def set_boxes_visible(self, visible: bool) -> None:
        self._boxes_visible = bool(visible)
        self._refresh_visibility()

    def boxes_visible(self) -> bool:
        return self._boxes_visible

    def set_score_labels_visible(self, visible: bool) -> None:
        self._labels_visible = bool(visible)
        for item in self._items.values():
            item.set_label_visible(self._labels_visible)
        self.outlines.invalidate()

    def set_changes(self, new_ids=(), gone=()) -> None:
        """Highlight what a re-detection changed: boxes ``new_ids``, and where ``gone`` boxes were
        (``(x1, y1, x2, y2)`` inclusive extents); no arguments clears it."""
        self.outlines.set_changes(new_ids, gone)

    def score_labels_visible(self) -> bool:
        return self._labels_visible

    def hidden_by_score(self, box: BoxData) -> bool:
        """Whether the min score hides ``box``: an undecided model/pseudo proposal scored below it."""
        low = box.score is not None and box.score < self._threshold
        return box.state == "proposed" and box.source in SCORED_SOURCES and low

    def _of_shown_run(self, box: BoxData) -> bool:
        return (self._shown_run is None or box.state != "proposed" or box.detection_run_id is None
                or box.detection_run_id == self._shown_run)

    def shows(self, box: BoxData) -> bool:
        """Whether ``box`` is drawn: boxes on, of the shown run, and not a proposal below the min score."""
        return self._boxes_visible and self._of_shown_run(box) and not self.hidden_by_score(box)

    _shows = shows

    def _refresh_visibility(self) -> None:
        for item in self._items.values():
            item.setVisible(self._shows(item.box))  # hiding an item also deselects it
        self.outlines.setVisible(self._boxes_visible)  # H hides re-detection marks too
        self.outlines.invalidate()
        self.visibility_changed.emit()

    # -- mode --------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        changed = mode != self._mode
        self._mode = mode
        self._cancel_rubber()
        for view in self.views():
            if mode == "draw":
                view.viewport().setCursor(Qt.CursorShape.CrossCursor)
            else:
                view.viewport().unsetCursor()
        if changed:
            self.mode_changed.emit(mode)

    def mode(self) -> str:
        return self._mode

    # -- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        left = event.button() == Qt.MouseButton.LeftButton
        if left and self._mode == "draw" and not self._handle_at(event):
            self._start_rubber(event.scenePos())
            event.accept()
            return
        super().mousePressEvent(event)
        if left:  # remember where the (now) selected boxes were, to see what the gesture changed
            self._pressed = {i: i.edges() for i in self.selectedItems() if isinstance(i, BoxItem)}

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._rubber is not None:
            self._rubber.setRect(self._rubber_rect(event.scenePos()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._rubber is not None and event.button() == Qt.MouseButton.LeftButton:
            rect = self._rubber_rect(event.scenePos())
            self._cancel_rubber()
            event.accept()
            if rect.width() >= MIN_DRAWN_SIZE and rect.height() >= MIN_DRAWN_SIZE:
                self.box_drawn.emit(rect.left(), rect.top(), rect.right() - 1, rect.bottom() - 1)
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._finish_gesture()

    def _finish_gesture(self) -> None:
        pressed, self._pressed = self._pressed, {}
        edits = []
        for item, before in pressed.items():
            after = item.edges()
            if item.scene() is not self or after == before:
                continue
            if _same_size(before, after):  # a move; a resize already put the edges it moved on whole pixels
                item.snap_to_pixels()
            edits.append((item.box.id, item.xyxy()))
        # all geometries are read before anything is emitted: each edit refreshes the scene
        if len(edits) > 1:
            self.edit_batch.emit(True)
        for box_id, xyxy in edits:
            self.geometry_edited.emit(box_id, xyxy)
        if len(edits) > 1:
            self.edit_batch.emit(False)

    def _handle_at(self, event: QGraphicsSceneMouseEvent) -> bool:
        view = event.widget().parentWidget() if event.widget() is not None else None
        transform = view.viewportTransform() if isinstance(view, QGraphicsView) else None
        if transform is None:
            return False
        item = self.itemAt(event.scenePos(), transform)
        return isinstance(item, ResizeHandle) and item.isVisible()

    def _start_rubber(self, at: QPointF) -> None:
        self._cancel_rubber()
        self._rubber_from = self._clamp(at)
        pen = QPen(RUBBER_COLOR, 1, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._rubber = self.addRect(QRectF(self._rubber_from, self._rubber_from), pen)
        self._rubber.setZValue(10)

    def _rubber_rect(self, to: QPointF) -> QRectF:
        """The whole-pixel rectangle between the press and ``to`` (edges rounded, inside the image)."""
        a, b = self._rubber_from, self._clamp(to)
        left, right = sorted((snap(a.x()), snap(b.x())))
        top, bottom = sorted((snap(a.y()), snap(b.y())))
        return QRectF(left, top, right - left, bottom - top)

    def _cancel_rubber(self) -> None:
        if self._rubber is not None:
            self.removeItem(self._rubber)
            self._rubber = None

    def _clamp(self, p: QPointF) -> QPointF:
        r = self.sceneRect()
        return QPointF(min(max(p.x(), r.left()), r.right()), min(max(p.y(), r.top()), r.bottom()))


def _same_size(a: Edges, b: Edges) -> bool:
    return abs((a[2] - a[0]) - (b[2] - b[0])) < 1e-9 and abs((a[3] - a[1]) - (b[3] - b[1])) < 1e-9


__all__ = ["BoxScene", "MODES", "SCORED_SOURCES"]
