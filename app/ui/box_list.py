"""The Box list: every box of the shown image as a sortable table, selection shared with the views.

Like CVAT's objects sidebar or labelme's shape list, it lets a reviewer find a box by its score,
size or run instead of hunting for it on a dark image, and step through the boxes with
``select_next`` (the window binds Tab / Shift+Tab to it).

What it lists is what the views draw (``BoxScene.shows``): the scene's boxes (all but deleted
ones) less the proposals the min score hides and those of runs the run picker does not show; the
footer counts both, and says when H hides every box (then nothing is listed: a hidden box cannot
be selected). Rejected boxes stay listed, greyed, because a reviewer may want them back.

The table takes no window shortcut: Y, N, Del, the arrows (nudge) and Tab reach the window's
actions while it has the focus; rows are chosen with the mouse and with ``select_next``.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from app.store.boxes import BoxData
from app.ui.box_editor import BoxEditor
from app.ui.box_items import style_of
from app.ui.paired_views import PairedViews

COLUMNS = ("#", "state", "source", "run", "score", "size")
SCORE_COLUMN = COLUMNS.index("score")
BOX_ID_ROLE = Qt.ItemDataRole.UserRole
"""``data(index, BOX_ID_ROLE)``: the row's box id."""
DESCENDING_FIRST = ("score", "size")
"""Columns whose first header click sorts largest first (the likeliest faces, the biggest boxes)."""
STATE_ORDER = {"proposed": 0, "accepted": 1, "rejected": 2}
"""Sorting by state puts what still needs a decision first."""
ZOOM_MARGIN = 1.0
"""A double-clicked box is shown with this many box sizes of context on each side."""
_NUMERIC = {COLUMNS.index(c) for c in ("#", "run", "score", "size")}


def box_size(box: BoxData) -> tuple[int, int]:
    """Width and height in pixels of inclusive extents (``x2 - x1 + 1``)."""
    return round(box.x2 - box.x1 + 1), round(box.y2 - box.y1 + 1)


def _blank_lowest(value) -> tuple:
    """Sort key where a missing value (a human box's score or run) is below every number."""
    return (0, 0) if value is None else (1, value)


_SORT_KEYS = {
    "#": lambda b: b.id,
    "state": lambda b: STATE_ORDER.get(b.state, len(STATE_ORDER)),
    "source": lambda b: b.source,
    "run": lambda b: _blank_lowest(b.detection_run_id),
    "score": lambda b: _blank_lowest(b.score),
    "size": lambda b: box_size(b)[0] * box_size(b)[1],
}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class BoxListModel(QAbstractTableModel):
    """Rows of ``BoxData`` in the current sort order; read-only (edits go through the editor)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._boxes: list[BoxData] = []
        self._sort_column = SCORE_COLUMN
        self._sort_order = Qt.SortOrder.DescendingOrder

    # -- content ---------------------------------------------------------------------------
    def set_boxes(self, boxes: Sequence[BoxData]) -> None:
        self.beginResetModel()
        self._boxes = self._sorted(boxes)
        self.endResetModel()

    def boxes(self) -> list[BoxData]:
        """The listed boxes, in row order."""
        return list(self._boxes)

    def box_at(self, row: int) -> BoxData:
        return self._boxes[row]

    def row_of(self, box_id: int) -> int | None:
        return next((row for row, b in enumerate(self._boxes) if b.id == box_id), None)

    # -- sorting ---------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column``; ties keep box id order, and a blank score or run sorts lowest."""
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        before = self._boxes
        self._boxes = self._sorted(before)
        moved = {b.id: row for row, b in enumerate(self._boxes)}
        for index in self.persistentIndexList():  # the view's current index and selection follow the box
            new_row = moved[before[index.row()].id]
            self.changePersistentIndex(index, self.index(new_row, index.column()))
        self.layoutChanged.emit()

    def sort_column(self) -> tuple[int, Qt.SortOrder]:
        return self._sort_column, self._sort_order

    def _sorted(self, boxes: Sequence[BoxData]) -> list[BoxData]:
        key = _SORT_KEYS[COLUMNS[self._sort_column]]
        by_id = sorted(boxes, key=lambda b: b.id)
        return sorted(by_id, key=key, reverse=self._sort_order == Qt.SortOrder.DescendingOrder)  # stable

    # -- QAbstractTableModel ---------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._boxes)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.InitialSortOrderRole:
            return (Qt.SortOrder.DescendingOrder if COLUMNS[section] in DESCENDING_FIRST
                    else Qt.SortOrder.AscendingOrder)
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return "# sorts by box id (the order boxes were made)" if section == 0 else None
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._boxes):
            return None
        box, column = self._boxes[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(box, index.row(), COLUMNS[column])
        if role == BOX_ID_ROLE:
            return box.id
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Box {box.id}" + (f", model version {box.model_version_id}" if box.model_version_id else "") \
                + (f", by {box.author}" if box.author else "")
        if role == Qt.ItemDataRole.DecorationRole and COLUMNS[column] == "state":
            return style_of(box)[0]  # the colour its outline has in the views
        if role == Qt.ItemDataRole.ForegroundRole and box.state == "rejected":
            return QGuiApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        if role == Qt.ItemDataRole.FontRole and box.state == "rejected":
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(box: BoxData, row: int, column: str) -> str:
        if column == "#":
            return str(row + 1)
        if column == "state":
            return box.state
        if column == "source":
            return box.source
        if column == "run":
            return "" if box.detection_run_id is None else f"run {box.detection_run_id}"
        if column == "score":
            return "" if box.score is None else f"{box.score:.2f}"
        w, h = box_size(box)
        return f"{w}×{h}"


class BoxList(QWidget):
    """The shown image's boxes as a table whose selection is the editor's (both ways)."""

    def __init__(self, editor: BoxEditor, views: PairedViews, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.views = views
        self.scene = editor.scene
        self._syncing = False
        self.model = BoxListModel(self)
        self.table = QTableView()
        self.table.setObjectName("boxListTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab is the window's "next box" (select_next), not a cell move
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        # widths from the widest text each column can hold, once: measuring the rows after every
        # reload (ResizeToContents) cost ~100 ms on a 2,000-box image (``benchmarks/gui_bench.py`` (c))
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        metrics, pad = self.table.fontMetrics(), 18
        for col, widest in enumerate(("9999", "■ proposed", "imported", "run 9999", "0.00", "9999×9999")):
            header.resizeSection(col, max(metrics.horizontalAdvance(widest), metrics.horizontalAdvance(COLUMNS[col]))
                                 + pad)
        header.setStretchLastSection(True)
        header.setSortIndicator(SCORE_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.footer = QLabel()
        self.footer.setObjectName("boxListFooter")
        self.footer.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.footer)
        self.table.selectionModel().selectionChanged.connect(self._on_rows_selected)
        self.table.doubleClicked.connect(lambda index: self.zoom_to(self.model.box_at(index.row()).id))
        editor.selection_changed.connect(lambda _box: self._show_editor_selection())
        editor.boxes_changed.connect(self._on_boxes_changed)
        editor.image_loaded.connect(lambda _image_id: self.refresh())
        self.scene.visibility_changed.connect(self.refresh)
        self.refresh()

    # -- content ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the scene's boxes again (the selection stays on the editor's, i.e. the same ids)."""
        boxes = self.editor.boxes()
        listed = [b for b in boxes if self.scene.shows(b)]
        self._syncing = True
        try:
            self.model.set_boxes(listed)
        finally:
            self._syncing = False
        self._show_editor_selection()
        self.footer.setText(self._footer_text(len(listed), len(boxes)))

    def box_ids(self) -> list[int]:
        """The listed box ids, in the list's order."""
        return [b.id for b in self.model.boxes()]

    def selected_ids(self) -> list[int]:
        """The selected rows' box ids, in the list's order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.model.box_at(r).id for r in rows]

    def _footer_text(self, listed: int, total: int) -> str:
        """"5 boxes · 1 hidden below min score 0.50 · 3 proposals of other runs hidden (run picker)"."""
        if not self.scene.boxes_visible():
            return f"{_count(total, 'box', 'boxes')} hidden in the views (H shows them)" if total else ""
        parts = [_count(listed, "box", "boxes")]
        low = self.scene.hidden_below_threshold()
        if low:
            parts.append(f"{low} hidden below min score {self.scene.confidence_threshold():.2f}")
        other_runs = total - listed - low
        if other_runs:
            parts.append(f"{_count(other_runs, 'proposal', 'proposals')} of other runs hidden (run picker)")
        return " · ".join(parts)

    def _on_boxes_changed(self, image_id: int) -> None:
        if image_id == self.editor.image_id:
            self.refresh()

    # -- selection -------------------------------------------------------------------------
    def _on_rows_selected(self, _selected=None, _deselected=None) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.editor.select(self.selected_ids())
        finally:
            self._syncing = False
        self._show_editor_selection()  # the rows say what the scene did select

    def _show_editor_selection(self) -> None:
        """Select exactly the rows of the editor's selected boxes, without telling the editor back."""
        if self._syncing:
            return
        rows = [r for r in (self.model.row_of(b.id) for b in self.editor.selected_boxes()) if r is not None]
        selection = QItemSelection()
        last = self.model.columnCount() - 1
        for row in rows:
            selection.select(self.model.index(row, 0), self.model.index(row, last))
        selection_model = self.table.selectionModel()
        self._syncing = True
        try:
            if {i.row() for i in selection_model.selectedRows()} != set(rows):
                selection_model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            current = selection_model.currentIndex()
            if rows and (not current.isValid() or current.row() not in rows):
                selection_model.setCurrentIndex(self.model.index(rows[0], 0),
                                                QItemSelectionModel.SelectionFlag.NoUpdate)
        finally:
            self._syncing = False
        if rows:
            self.table.scrollTo(self.model.index(rows[0], 0), QAbstractItemView.ScrollHint.EnsureVisible)

    # -- stepping and zooming --------------------------------------------------------------
    def select_next(self, step: int = 1) -> int | None:
        """Select the box ``step`` rows on (wrapping; none selected: the first or the last) and, when
        the views are zoomed in, centre it at the same zoom. Returns the box id (``None``: no rows)."""
        count = self.model.rowCount()
        if count == 0:
            return None
        selected = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        current = self.table.selectionModel().currentIndex()
        if not selected:
            row = 0 if step > 0 else count - 1
        else:
            base = current.row() if current.isValid() and current.row() in selected else selected[0]
            row = (base + step) % count
        box = self.model.box_at(row)
        self.editor.select([box.id])
        self.table.selectionModel().setCurrentIndex(self.model.index(row, 0),
                                                    QItemSelectionModel.SelectionFlag.NoUpdate)
        if not self.views.active().is_fitted():
            self.centre_on(box.id)
        return box.id

    def centre_on(self, box_id: int) -> None:
        """Scroll the views so the box is in their centre, keeping the zoom (clamped at the image edge)."""
        box = self.editor.box(box_id)
        self.views.active().centerOn(QPointF((box.x1 + box.x2 + 1) / 2, (box.y1 + box.y2 + 1) / 2))

    def zoom_to(self, box_id: int) -> None:
        """Zoom the views onto the box with ``ZOOM_MARGIN`` box sizes of context around it."""
        box = self.editor.box(box_id)
        w, h = box_size(box)
        margin = ZOOM_MARGIN * max(w, h)
        self.views.show_region(QRectF(box.x1, box.y1, w, h).adjusted(-margin, -margin, margin, margin))


__all__ = ["BOX_ID_ROLE", "COLUMNS", "BoxList", "BoxListModel", "box_size"]
