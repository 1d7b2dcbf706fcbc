"""The experiment table on screen: base raw / base enhanced / fine-tuned enhanced / fine-tuned raw.

The rows come from ``app.store.experiment_table``; a missing cell says why in its tooltip (no
model yet, not evaluated yet, stale with the AP it had), and "Compute missing" is enabled while
a cell with a model lacks a current evaluation.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.store.experiment_table import ExperimentRow
from app.ui.pr_plot import format_ap

TABLE_COLUMNS = ("Setting", "Model", "AP@0.5", "Images", "Faces")


def missing_of(rows: list[ExperimentRow]) -> list[tuple[int, bool]]:
    """``(model id, enhanced)`` of the rows that have a model but no current evaluation."""
    return [(row.model.id, row.enhanced) for row in rows if row.missing and row.model is not None]


class ExperimentTableView(QWidget):
    """The table and its "Compute missing" button (the view connects ``compute_button``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.missing: list[tuple[int, bool]] = []
        """``missing_of`` the rows last shown (what "Compute missing" is enabled by)."""
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setObjectName("evalTable")
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.compute_button = QPushButton("Compute missing")
        self.compute_button.setObjectName("evalComputeMissing")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Experiment (held-out set)"))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.compute_button)

    def show_rows(self, rows: list[ExperimentRow]) -> None:
        self.missing = missing_of(rows)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            e = row.evaluation
            cells = (row.label, row.model.name if row.model is not None else "—",
                     "missing" if e is None else format_ap(e.ap),
                     "" if e is None else str(e.n_images), "" if e is None else str(e.n_faces))
            tip = row.reason
            if row.stale is not None:
                tip += f" (was AP {format_ap(row.stale.ap)}; Compute missing scores it again)"
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if e is None and tip:
                    item.setToolTip(tip)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
