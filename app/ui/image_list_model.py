"""The list of images of the open folder, as a Qt model.

Model/view rather than one widget per row: a DARK FACE split has thousands of images and the
review GUI will show the same list in several views (list, filters, thumbnails).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

FACE_COUNT_ROLE = int(Qt.ItemDataRole.UserRole) + 1
"""Number of ground-truth faces of the row's image, or ``None`` until its label was read."""

PATH_ROLE = int(Qt.ItemDataRole.UserRole) + 2
"""The row's image path (``pathlib.Path``)."""

_Index = QModelIndex | QPersistentModelIndex


class ImageListModel(QAbstractListModel):
    """One row per image path: display = file name, tooltip = full path, face count once known."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._paths: list[Path] = []
        self._face_counts: list[int | None] = []

    def set_images(self, paths: Sequence[Path]) -> None:
        """Replace all rows (face counts are forgotten: they belong to the old folder)."""
        self.beginResetModel()
        self._paths = [Path(p) for p in paths]
        self._face_counts = [None] * len(self._paths)
        self.endResetModel()

    def path(self, row: int) -> Path:
        return self._paths[row]

    def paths(self) -> list[Path]:
        return list(self._paths)

    def face_count(self, row: int) -> int | None:
        return self._face_counts[row]

    def set_face_count(self, row: int, count: int | None) -> None:
        """Record the face count of ``row`` once its label has been read (``None``: unknown)."""
        if self._face_counts[row] == count:
            return
        self._face_counts[row] = count
        index = self.index(row, 0)
        self.dataChanged.emit(index, index, [FACE_COUNT_ROLE])

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._paths)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._paths):
            return None
        path = self._paths[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return path.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(path)
        if role == FACE_COUNT_ROLE:
            return self._face_counts[index.row()]
        if role == PATH_ROLE:
            return path
        return None
