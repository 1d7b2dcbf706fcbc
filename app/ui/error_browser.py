"""The error browser: one stored evaluation's false positives, missed faces and skipped images.

Activating a row asks the window to show that image zoomed on the box (``open_location``);
rows of images outside the project (an imported label set's) say why they cannot be opened.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

ERROR_COLUMNS = ("Kind", "Image", "Score", "Box")
NOTHING = "Errors of the selected evaluation"


class ErrorBrowser(QWidget):
    """``open_location(image_id, box)`` when a reviewer activates a false positive or a miss."""

    open_location = Signal(int, tuple)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(NOTHING)
        self.label.setWordWrap(True)  # a long summary must not widen the side panel
        self.tree = QTreeWidget()
        self.tree.setObjectName("evalErrors")
        self.tree.setColumnCount(len(ERROR_COLUMNS))
        self.tree.setHeaderLabels(ERROR_COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.header().setStretchLastSection(True)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.label)
        column.addWidget(self.tree, 1)
        self.tree.itemActivated.connect(self._on_activated)

    def show_evaluation(self, e) -> None:
        """List ``e``'s errors (``None``: nothing selected)."""
        self.tree.clear()
        if e is None:
            self.label.setText(NOTHING)
            return
        threshold = e.errors.get("threshold")
        at = f" at score ≥ {threshold:.3f}" if threshold is not None else ""
        self.label.setText(f"{e.errors.get('n_false_positives', len(e.false_positives))} false positives, "
                           f"{e.errors.get('n_missed', len(e.missed))} missed faces{at}; "
                           f"{len(e.skipped)} images skipped")
        for kind, entries in (("false positive", e.false_positives), ("missed", e.missed)):
            for entry in entries:
                box = tuple(float(v) for v in entry["box"])
                where = Path(entry["path"]).name if entry.get("path") else f"image {entry['image_id']}"
                score = "" if entry.get("score") is None else f"{entry['score']:.3f}"
                item = QTreeWidgetItem([kind, where, score, " ".join(f"{v:.0f}" for v in box)])
                item.setData(0, Qt.ItemDataRole.UserRole, (entry.get("image_id"), box))
                if entry.get("image_id") is None:
                    item.setToolTip(1, f"{entry.get('path')}: not an image of this project, cannot be opened")
                    item.setDisabled(True)
                else:
                    item.setToolTip(1, str(entry.get("path") or ""))
                self.tree.addTopLevelItem(item)
        for skipped in e.skipped:
            item = QTreeWidgetItem(["skipped", Path(skipped.get("path") or "").name, "", skipped.get("message", "")])
            item.setDisabled(True)
            self.tree.addTopLevelItem(item)

    def _on_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole)
        if data is None or data[0] is None:
            return
        image_id, box = data
        self.open_location.emit(int(image_id), tuple(box))
