"""Models → Manage models…: the project's detector models, renamed, added and removed in one place.

A model is named where it is listed (double-click the name). Removing one that nothing names
deletes its row; one that detection runs, boxes, evaluations or fine-tuned models still name is
archived instead: gone from every picker, still named in the lineage and the experiment table,
and restorable. The checkpoint file is never deleted: it may be shared, and it is the user's.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.store import (
    NotFoundError,
    Project,
    StoreError,
    model_uses,
    model_versions,
    remove_model,
    rename_model,
    restore_model,
)
from app.ui.model_files import register_checkpoint
from app.ui.panel_helpers import ask_for_weights

COLUMNS = ("Name", "Checkpoint file", "Added", "Used by", "State")


def _ask(parent: QWidget, text: str) -> bool:
    answer = QMessageBox.question(parent, "Remove model", text)
    return answer == QMessageBox.StandardButton.Yes


class ModelsDialog(QDialog):
    """``models_changed`` after any rename, addition, removal or restore (pickers refresh)."""

    models_changed = Signal()

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models of this project")
        self.resize(760, 360)
        self.project = project
        self.choose_file: Callable[[QWidget], str | os.PathLike[str] | None] = ask_for_weights
        self.confirm: Callable[[QWidget, str], bool] = _ask
        self._ids: list[int] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.message = QLabel()
        self.message.setObjectName("modelsMessage")
        self.message.setWordWrap(True)
        self.add_button = QPushButton("Add weights file…")
        self.remove_button = QPushButton("Remove…")
        self.restore_button = QPushButton("Restore")
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.restore_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        column = QVBoxLayout(self)
        column.addWidget(QLabel("Double-click a name to rename the model. Removing a model never deletes its file."))
        column.addWidget(self.table, 1)
        column.addWidget(self.message)
        column.addLayout(buttons)
        self.add_button.clicked.connect(self.add_file)
        self.remove_button.clicked.connect(self.remove_selected)
        self.restore_button.clicked.connect(self.restore_selected)
        close.clicked.connect(self.close)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    def set_project(self, project: Project) -> None:
        self.project = project
        self.refresh()

    def refresh(self, select_id: int | None = None) -> None:
        models = model_versions(self.project)
        self._ids = [m.id for m in models]
        self._archived = {m.id for m in models if m.archived}
        self.table.blockSignals(True)
        try:
            self.table.setRowCount(len(models))
            for row, m in enumerate(models):
                uses = model_uses(self.project, m.id)
                used = ", ".join(f"{n} {what}" for what, n in uses.items() if n) or "nothing yet"
                cells = (m.name, m.checkpoint_path, f"{m.created_at:%Y-%m-%d %H:%M}", used,
                         "archived" if m.archived else "in use")
                for col, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if col != 0:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    if col == 1:
                        item.setToolTip(text)
                    self.table.setItem(row, col, item)
        finally:
            self.table.blockSignals(False)
        if select_id in self._ids:
            self.table.selectRow(self._ids.index(select_id))
        self._update_buttons()

    def selected_id(self) -> int | None:
        rows = {i.row() for i in self.table.selectedItems()}
        return self._ids[rows.pop()] if len(rows) == 1 else None

    def names(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())]

    # -- actions -------------------------------------------------------------------------------
    def add_file(self) -> None:
        chosen = self.choose_file(self)
        version = register_checkpoint(self, self.project, chosen) if chosen else None
        if version is not None:
            self.refresh(select_id=version.id)
            self.message.setText(f"Added {version.name!r}.")
            self.models_changed.emit()

    def remove_selected(self) -> None:
        model_id = self.selected_id()
        if model_id is None:
            return
        name = self.table.item(self._ids.index(model_id), 0).text()
        uses = {k: v for k, v in model_uses(self.project, model_id).items() if v}
        what = ("It is archived, not deleted: " + ", ".join(f"{n} {k}" for k, n in uses.items())
                + " still name it.") if uses else "Nothing refers to it; its row is deleted."
        if not self.confirm(self, f"Remove the model {name!r} from the pickers? {what} The file stays where it is."):
            return
        try:
            outcome = remove_model(self.project, model_id)
        except (NotFoundError, StoreError) as exc:
            self.message.setText(str(exc))
            return
        self.refresh(select_id=model_id)
        self.message.setText(f"{name!r} {outcome}.")
        self.models_changed.emit()

    def restore_selected(self) -> None:
        model_id = self.selected_id()
        if model_id is None or model_id not in self._archived:
            return
        restore_model(self.project, model_id)
        self.refresh(select_id=model_id)
        self.models_changed.emit()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        model_id = self._ids[item.row()]
        try:
            version = rename_model(self.project, model_id, item.text())
        except (NotFoundError, StoreError) as exc:
            self.message.setText(f"Not renamed: {exc}")
            self.refresh(select_id=model_id)  # back to the stored name
            return
        self.message.setText(f"Renamed to {version.name!r}.")
        self.refresh(select_id=model_id)
        self.models_changed.emit()

    def _update_buttons(self) -> None:
        model_id = self.selected_id()
        self.remove_button.setEnabled(model_id is not None and model_id not in self._archived)
        self.restore_button.setEnabled(model_id is not None and model_id in self._archived)
