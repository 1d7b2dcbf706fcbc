"""The selected box's facts and its WIDER FACE attributes, editable one undo step at a time.

Each attribute is a combo box with the WIDER level names (the numbers alone mean little to a
reviewer); a change goes through ``BoxEditor.set_attributes`` and so is stored at once and
undoable. The panel follows ``BoxEditor.selection_changed`` and is disabled with no selection.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from app.store.boxes import BoxData
from app.ui.box_editor import BoxEditor

LEVELS: dict[str, tuple[str, ...]] = {
    "blur": ("clear", "normal blur", "heavy blur"),
    "expression": ("typical", "exaggerated"),
    "illumination": ("normal", "extreme"),
    "invalid": ("valid", "invalid"),
    "occlusion": ("none", "partial", "heavy"),
    "pose": ("typical", "atypical"),
}
"""WIDER FACE attribute levels (index = stored value), in the store's column order."""


class BoxAttributePanel(QWidget):
    """Shows the selected box and edits its six WIDER attributes and ``ignore`` flag."""

    def __init__(self, editor: BoxEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self._box: BoxData | None = None
        self.summary = QLabel()
        self.summary.setObjectName("boxSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        self.combos: dict[str, QComboBox] = {}
        for name, levels in LEVELS.items():
            combo = QComboBox()
            combo.setObjectName(f"attr_{name}")
            for value, text in enumerate(levels):
                combo.addItem(f"{value} – {text}", value)
            combo.currentIndexChanged.connect(lambda _i, n=name: self._attribute_edited(n))
            form.addRow(name.capitalize(), combo)
            self.combos[name] = combo
        self.ignore = QCheckBox("Ignore (don't-care region)")
        self.ignore.setObjectName("attr_ignore")
        self.ignore.toggled.connect(self._ignore_edited)
        form.addRow(self.ignore)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addStretch(1)
        editor.selection_changed.connect(self.show_box)
        self.show_box(editor.selected_box())

    def box(self) -> BoxData | None:
        return self._box

    def show_box(self, box: BoxData | None) -> None:
        """Show ``box`` (``None``: nothing selected, editing disabled) without emitting edits."""
        self._box = box
        for widget in (*self.combos.values(), self.ignore):
            widget.blockSignals(True)
        try:
            for name, combo in self.combos.items():
                value = getattr(box, name) if box is not None else 0
                if combo.findData(value) < 0:  # a value outside the WIDER levels: show it as is
                    combo.addItem(str(value), value)
                combo.setCurrentIndex(combo.findData(value))
            self.ignore.setChecked(bool(box is not None and box.ignore))
        finally:
            for widget in (*self.combos.values(), self.ignore):
                widget.blockSignals(False)
        for widget in (*self.combos.values(), self.ignore):
            widget.setEnabled(box is not None)
        self.summary.setText(self._describe(box))

    @staticmethod
    def _describe(box: BoxData | None) -> str:
        if box is None:
            return "No box selected"
        w, h = box.x2 - box.x1 + 1, box.y2 - box.y1 + 1
        score = "" if box.score is None else f" · score {box.score:.3f}"
        run = "" if box.detection_run_id is None else f" · from detection run {box.detection_run_id}"
        # whole pixels, as for a drawn box: a model's sub-pixel corners say nothing a reviewer can use
        return (f"Box {box.id}: {box.source}, {box.state}{score}{run}\n"
                f"{round(w)} × {round(h)} px at ({round(box.x1)}, {round(box.y1)})")

    def _attribute_edited(self, name: str) -> None:
        if self._box is not None:
            self.editor.set_attributes(self._box.id, **{name: self.combos[name].currentData()})

    def _ignore_edited(self, checked: bool) -> None:
        if self._box is not None:
            self.editor.set_attributes(self._box.id, ignore=checked)


__all__ = ["BoxAttributePanel", "LEVELS"]
