"""What the Evaluate tab scores: a model version, a labelled set and raw or enhanced input.

The labelled set is the project's held-out ``val`` images or a label file with its image folder,
chosen through "Labelled set from file…" (``ask_for_label_set``; tests replace ``choose_labels``)
and then offered in the picker for the rest of the session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QFormLayout, QWidget

from app.jobs.evaluate_job import LabelSet
from app.store import ModelVersionData
from app.store.labelled_sets import HELDOUT

INPUTS = (("raw", "Raw images"), ("enhanced", "Enhanced images"))
CHOOSE_LABELS = "Labelled set from file…"
_CHOOSE = "choose"
PICKER_CHARS = 16
"""Characters a picker shows at least; longer names are elided (the full name is the tooltip)."""


def ask_for_label_set(parent: QWidget) -> LabelSet | None:
    """The dialogs behind "Labelled set from file…": a WIDER FACE ground-truth file (or, when
    cancelled, a DARK FACE label folder), then the image folder."""
    labels, _ = QFileDialog.getOpenFileName(parent, "WIDER FACE ground truth (cancel to pick a DARK FACE label "
                                            "folder)", "", "Text files (*.txt);;All files (*)")
    if not labels:
        labels = QFileDialog.getExistingDirectory(parent, "DARK FACE label folder")
    if not labels:
        return None
    images = QFileDialog.getExistingDirectory(parent, "Image folder of these labels")
    return LabelSet(Path(labels), Path(images)) if images else None


class EvaluationPickers(QWidget):
    """The three pickers as a form; ``model_changed`` fires when another model is picked."""

    model_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label_sets: list[LabelSet] = []
        self._dataset_index = 0
        self.choose_labels: Callable[[QWidget], LabelSet | None] = ask_for_label_set
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("evalModel")
        self.dataset_combo = QComboBox()
        self.dataset_combo.setObjectName("evalDataset")
        self.input_combo = QComboBox()
        self.input_combo.setObjectName("evalInput")
        for key, text in INPUTS:
            self.input_combo.addItem(text, key)
        for combo in (self.model_combo, self.dataset_combo):
            # a label set's long path or a long model name is elided, never widens the side panel
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(PICKER_CHARS)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model_combo)
        form.addRow("Labelled set", self.dataset_combo)
        form.addRow("Input", self.input_combo)
        self.model_combo.currentIndexChanged.connect(lambda _: self.model_changed.emit())
        for combo in (self.model_combo, self.dataset_combo):
            combo.currentIndexChanged.connect(lambda _: self._show_full_names())
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        self._fill_datasets()

    def set_models(self, models: dict[int, ModelVersionData]) -> None:
        """Offer the models that are not archived; keep the picked one when it is still there,
        else pick the newest."""
        keep = self.selected_model_id()
        with QSignalBlocker(self.model_combo):
            self.model_combo.clear()
            for m in models.values():  # every model names its scores; archived ones are not offered
                if not m.archived:
                    self.model_combo.addItem(m.name, m.id)
                    self.model_combo.setItemData(self.model_combo.count() - 1, m.name, Qt.ItemDataRole.ToolTipRole)
            index = self.model_combo.findData(keep) if keep is not None else -1
            self.model_combo.setCurrentIndex(index if index >= 0 else self.model_combo.count() - 1)
        self._show_full_names()

    def selected_model_id(self) -> int | None:
        data = self.model_combo.currentData()
        return data if isinstance(data, int) else None

    def selected_dataset(self) -> str | LabelSet:
        data = self.dataset_combo.currentData()
        if isinstance(data, str) and data.startswith("set:"):
            return self._label_sets[int(data[4:])]
        return HELDOUT

    def name_enhancement(self, method: str) -> None:
        """Say which enhancement "Enhanced images" applies (the Enhance tab's current method)."""
        index = self.input_combo.findData("enhanced")
        self.input_combo.setItemText(index, f"Enhanced images ({method})")

    def enhanced(self) -> bool:
        return self.input_combo.currentData() == "enhanced"

    def add_label_set(self, label_set: LabelSet) -> None:
        """Offer a labelled set in the picker and select it."""
        if label_set not in self._label_sets:
            self._label_sets.append(label_set)
        self._fill_datasets(select=label_set)

    def set_choosable(self, enabled: bool) -> None:
        for widget in (self.model_combo, self.dataset_combo, self.input_combo):
            widget.setEnabled(enabled)

    def _show_full_names(self) -> None:
        """Each picker's tooltip is the full name of what it shows (the picker may elide it)."""
        for combo in (self.model_combo, self.dataset_combo):
            tip = combo.currentData(Qt.ItemDataRole.ToolTipRole)
            combo.setToolTip(tip if isinstance(tip, str) else combo.currentText())

    def _fill_datasets(self, select=None) -> None:
        with QSignalBlocker(self.dataset_combo):
            self.dataset_combo.clear()
            self.dataset_combo.addItem("Held-out set (val split, reviewed)", HELDOUT)
            for i, ls in enumerate(self._label_sets):
                self.dataset_combo.addItem(f"{ls.labels.name} ({ls.images})", f"set:{i}")
                self.dataset_combo.setItemData(self.dataset_combo.count() - 1,
                                               f"labels: {ls.labels}\nimages: {ls.images}", Qt.ItemDataRole.ToolTipRole)
            self.dataset_combo.addItem(CHOOSE_LABELS, _CHOOSE)
            index = self.dataset_combo.findData(f"set:{self._label_sets.index(select)}") if select is not None else 0
            self.dataset_combo.setCurrentIndex(max(index, 0))
        self._dataset_index = self.dataset_combo.currentIndex()
        self._show_full_names()

    def _on_dataset_changed(self, index: int) -> None:
        if self.dataset_combo.itemData(index) != _CHOOSE:
            self._dataset_index = index
            return
        chosen = self.choose_labels(self)
        if chosen is None:
            with QSignalBlocker(self.dataset_combo):
                self.dataset_combo.setCurrentIndex(self._dataset_index)
            return
        self.add_label_set(chosen)
