"""The image browser dock: filters, review order, the lazily thumbnailed list and its counts.

The list is a model/view (``ImageBrowserModel`` + ``ImageFilterProxy``), not a widget per row,
so a 10,000-image project opens as fast as a 10-image one. The panel owns only the widgets;
the window decides what selecting an image means.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from app.store import ImageSummary
from app.ui.image_browser_model import ImageBrowserModel, ImageFilterProxy

STATUS_FILTERS = {"All images": None, "New": ["new"], "In progress": ["in_progress"], "Done": ["done"],
                  "Skipped": ["skipped"], "Not done": ["new", "in_progress", "skipped"]}
ORDERS = {"Path": "path", "Unreviewed first": "unreviewed", "Lowest confidence first": "lowest_confidence",
          "Raw vs enhanced disagreement": "disagreement"}
DETECTION_FILTERS = {"any": None, "with proposals": True, "without proposals": False}


class _ListWideRows(QStyledItemDelegate):
    """The default delegate, but a row's size hint has no width: the list gives it its own."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(1, super().sizeHint(option, index).height())


class ImageBrowserPanel(QWidget):
    """``current_changed(image_id)`` when the annotator picks an image; ``order_changed(order key)``."""

    current_changed = Signal(int)
    order_changed = Signal(str)

    def __init__(self, path_of: Callable[[ImageSummary], Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ImageBrowserModel(path_of)
        self.proxy = ImageFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = QListView()
        self.view.setObjectName("imageBrowser")
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)  # Ctrl/Shift-click for several
        self.view.setIconSize(QSize(64, 48))
        # a long name is elided (in full in its tooltip), never a sideways scroll of the whole list:
        # rows ask for no width of their own, so each is as wide as the list
        self.view.setItemDelegate(_ListWideRows(self.view))
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.status_filter = QComboBox()
        self.status_filter.addItems(list(STATUS_FILTERS))
        self.detections_filter = QComboBox()
        self.detections_filter.addItems(list(DETECTION_FILTERS))
        self.score_min, self.score_max = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, value, tip in ((self.score_min, 0.0, "lowest"), (self.score_max, 1.0, "highest")):
            spin.setRange(0.0, 1.0)
            spin.setSingleStep(0.05)
            spin.setDecimals(2)
            spin.setValue(value)
            spin.setToolTip(f"Show images whose best proposal score is at least this {tip} bound "
                            "(0–1 shows every image)")
            spin.valueChanged.connect(self._apply_filter)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("filter by name")
        self.order_box = QComboBox()
        self.order_box.addItems(list(ORDERS))
        self.counts = QLabel()
        for widget in (self.status_filter, self.detections_filter):
            widget.currentIndexChanged.connect(self._apply_filter)
        self.text_filter.textChanged.connect(self._apply_filter)
        self.order_box.currentIndexChanged.connect(lambda _i: self.order_changed.emit(self.order()))

        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(self.status_filter)
        row.addWidget(self.detections_filter)
        box.addLayout(row)
        scores = QHBoxLayout()
        scores.addWidget(QLabel("Score"))
        scores.addWidget(self.score_min)
        scores.addWidget(QLabel("to"))
        scores.addWidget(self.score_max)
        box.addLayout(scores)
        box.addWidget(self.text_filter)
        box.addWidget(self.order_box)
        box.addWidget(self.view, 1)
        box.addWidget(self.counts)

    # -- what is shown ---------------------------------------------------------------------
    def order(self) -> str:
        return ORDERS[self.order_box.currentText()]

    def score_range(self) -> tuple[float, float] | None:
        lo, hi = self.score_min.value(), self.score_max.value()
        return None if (lo, hi) == (0.0, 1.0) else (lo, hi)

    def _apply_filter(self) -> None:
        self.proxy.set_filter(statuses=STATUS_FILTERS[self.status_filter.currentText()],
                              has_detections=DETECTION_FILTERS[self.detections_filter.currentText()],
                              score_range=self.score_range(), text=self.text_filter.text())
        self.refresh_counts()

    def refresh_counts(self) -> None:
        total = self.model.rowCount()
        done = sum(1 for i in range(total) if self.model.summary(i).status == "done")
        self.counts.setText(f"{self.proxy.rowCount()} shown · {total} images · {done} done")

    # -- rows ------------------------------------------------------------------------------
    def current_row(self) -> int:
        return self.view.currentIndex().row()

    def row_count(self) -> int:
        return self.proxy.rowCount()

    def select_row(self, row: int) -> None:
        index = self.proxy.index(row, 0)
        if index.isValid():
            self.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def summary_at(self, row: int) -> ImageSummary | None:
        """The summary shown at proxy ``row`` (``None`` outside the list)."""
        index = self.proxy.index(row, 0)
        return self.model.summary(self.proxy.mapToSource(index).row()) if index.isValid() else None

    def listed_row(self, image_id: int) -> int | None:
        """The row at which the (filtered, ordered) list shows ``image_id``; ``None``: not listed."""
        row = self.model.row_of(image_id)
        if row is None:
            return None
        index = self.proxy.mapFromSource(self.model.index(row))
        return index.row() if index.isValid() else None

    def select_image(self, image_id: int, notify: bool = True) -> bool:
        """Make ``image_id`` current; ``notify=False`` moves the highlight without ``current_changed``."""
        row = self.listed_row(image_id)
        if row is None:
            return False
        index = self.proxy.index(row, 0)
        selection = self.view.selectionModel()
        blocked = selection.blockSignals(not notify)
        selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        selection.blockSignals(blocked)
        return True

    def selected_ids(self) -> list[int]:
        return [self.model.summary(self.proxy.mapToSource(i).row()).id
                for i in self.view.selectionModel().selectedRows()]

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.current_changed.emit(self.model.summary(self.proxy.mapToSource(current).row()).id)
