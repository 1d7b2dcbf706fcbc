"""The stored evaluations as a checkable list, the checked ones drawn as PR curves.

Checking an evaluation draws its curve; the current one (the list's selection) is what the error
browser shows, announced by ``current_changed(EvaluationData or None)``. "Bigger plot…" opens the
checked curves in a window of their own.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QDialog, QListWidget, QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget

from app.store import ModelVersionData
from app.store.evaluations import EvaluationData
from app.store.labelled_sets import dataset_title
from app.ui.pr_plot import draw_curves, format_ap, new_pr_plot, show_plot_window


def evaluation_title(e: EvaluationData, models: dict[int, ModelVersionData]) -> str:
    model = models.get(e.model_version_id)
    name = model.name if model is not None else f"model {e.model_version_id}"
    return (f"{name} — {dataset_title(e.dataset)}, {'enhanced' if e.enhanced else 'raw'}: "
            f"AP {format_ap(e.ap)} ({e.n_images} images, {e.n_faces} faces)")


class EvaluationCurves(QWidget):
    """List (newest first, with check boxes) above the PR plot; ``show_evaluations`` refills it."""

    current_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._models: dict[int, ModelVersionData] = {}
        self._evaluations: dict[int, EvaluationData] = {}
        self._checked: set[int] = set()
        self.evaluation_list = QListWidget()
        self.evaluation_list.setObjectName("evalList")
        self.plot = new_pr_plot("evalPlot")
        self.curves: dict[int, pg.PlotDataItem] = {}
        """The plotted PR curve of each checked evaluation, by evaluation id."""
        self.bigger_button = QPushButton("Bigger plot…")
        self.bigger_button.setObjectName("evalBiggerPlot")
        self.bigger_button.setToolTip("The checked PR curves in a window of their own")
        self.bigger_button.clicked.connect(self.show_plot_window)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.evaluation_list)
        split.addWidget(self.plot)
        split.setStretchFactor(1, 3)
        self.plot.setMinimumHeight(220)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split, 1)
        layout.addWidget(self.bigger_button, 0, Qt.AlignmentFlag.AlignRight)
        self.evaluation_list.itemChanged.connect(self._on_item_changed)
        self.evaluation_list.currentItemChanged.connect(lambda *_: self._announce_current())

    def show_evaluations(self, found: list[EvaluationData], models: dict[int, ModelVersionData]) -> None:
        """List ``found`` (oldest first, as the store gives them); checks and the selection stay
        where their evaluations are still listed."""
        current = self.current_evaluation_id()
        self._models = models
        self._evaluations = {e.id: e for e in found}
        self._checked &= set(self._evaluations)
        with QSignalBlocker(self.evaluation_list):
            self.evaluation_list.clear()
            for e in reversed(found):  # newest first
                item = QListWidgetItem(evaluation_title(e, models))
                item.setData(Qt.ItemDataRole.UserRole, e.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if e.id in self._checked else Qt.CheckState.Unchecked)
                self.evaluation_list.addItem(item)
        self._redraw()
        if current in self._evaluations:
            self.select_evaluation(current)
        else:
            self._announce_current()

    def evaluation(self, evaluation_id: int | None) -> EvaluationData | None:
        return self._evaluations.get(evaluation_id) if evaluation_id is not None else None

    def check_when_listed(self, evaluation_id: int) -> None:
        """Draw this evaluation's curve once it is listed (a new evaluation, before the refresh)."""
        self._checked.add(evaluation_id)

    def uncheck_all(self) -> None:
        self._checked = set()

    def checked_evaluations(self) -> list[EvaluationData]:
        return [self._evaluations[i] for i in sorted(self._checked) if i in self._evaluations]

    def set_checked(self, evaluation_id: int, checked: bool) -> None:
        """Show or hide an evaluation's PR curve."""
        item = self._item(evaluation_id)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def select_evaluation(self, evaluation_id: int) -> None:
        """Make an evaluation current (its errors fill the error browser)."""
        item = self._item(evaluation_id)
        if item is not None:
            self.evaluation_list.setCurrentItem(item)
        self._announce_current()

    def current_evaluation_id(self) -> int | None:
        item = self.evaluation_list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def show_plot_window(self) -> QDialog:
        """The checked PR curves, larger, in a window of their own (the dock's plot stays)."""
        return show_plot_window(self, self.checked_evaluations(), self._models)

    def _item(self, evaluation_id: int) -> QListWidgetItem | None:
        for row in range(self.evaluation_list.count()):
            item = self.evaluation_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == evaluation_id:
                return item
        return None

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        evaluation_id = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self._checked.add(evaluation_id)
        else:
            self._checked.discard(evaluation_id)
        self._redraw()

    def _redraw(self) -> None:
        self.curves = draw_curves(self.plot, self.checked_evaluations(), self._models)

    def _announce_current(self) -> None:
        self.current_changed.emit(self.evaluation(self.current_evaluation_id()))
