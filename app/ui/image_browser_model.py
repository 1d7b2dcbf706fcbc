"""The project's images as a Qt model: one row per image, thumbnails made lazily off the GUI thread.

A model (not a widget per row) so 10,000 images list instantly: the rows come from one store
query (``image_summaries``); a thumbnail is decoded (OpenCV's reduced-resolution JPEG/PNG read)
in a thread pool the first time its row is painted, kept in a bounded cache, and announced with
``dataChanged``. ``ImageFilterProxy`` filters by status, detections, score range and text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSortFilterProxyModel,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPainter

from app.store.summaries import ImageSummary
from app.ui.qimage import to_qimage
from srn.imageio import ImageReadError, check_pixels, header_size

SUMMARY_ROLE = int(Qt.ItemDataRole.UserRole) + 10
IMAGE_ID_ROLE = int(Qt.ItemDataRole.UserRole) + 11
THUMB_WIDTH = 96
THUMB_CACHE = 4000
STATUS_COLORS = {"new": QColor(150, 150, 150), "in_progress": QColor(240, 190, 40),
                 "done": QColor(60, 200, 90), "skipped": QColor(120, 140, 220)}
_Index = QModelIndex | QPersistentModelIndex


def load_thumbnail(path: Path, width: int = THUMB_WIDTH) -> QImage | None:
    """A small RGB thumbnail (decoded at 1/4 or 1/8 resolution when the codec allows); ``None``
    for a file that cannot be read or whose header says it is over the pixel limit."""
    try:
        size = header_size(path)
        if size is not None:
            check_pixels(path, *size)
    except ImageReadError:
        return None
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    if data is None or data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_REDUCED_COLOR_4)
    if image is None:
        return None
    h, w = image.shape[:2]
    height = max(1, round(h * width / w))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return to_qimage(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))


class _ThumbSignals(QObject):
    ready = Signal(int, int, object)  # generation, image id, QImage or None


class _ThumbJob(QRunnable):
    def __init__(self, generation: int, image_id: int, path: Path, signals: _ThumbSignals) -> None:
        super().__init__()
        self.generation, self.image_id, self.path, self.signals = generation, image_id, path, signals

    def run(self) -> None:
        try:
            thumb = load_thumbnail(self.path)
        except Exception:  # noqa: BLE001 - a bad file shows no thumbnail, never a crash
            thumb = None
        self.signals.ready.emit(self.generation, self.image_id, thumb)


class ImageBrowserModel(QAbstractListModel):
    """Rows = ``ImageSummary``; ``path_of(summary) -> Path`` locates files for thumbnails."""

    def __init__(self, path_of: Callable[[ImageSummary], Path] | None = None, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[ImageSummary] = []
        self._row_of: dict[int, int] = {}
        self._path_of = path_of
        self._thumbs: OrderedDict[int, QImage | None] = OrderedDict()
        self._pending: set[int] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _ThumbSignals()
        self._signals.ready.connect(self._on_thumb)
        self._generation = 0
        self.thumbnails_enabled = True

    # -- rows ------------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[ImageSummary]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}
        self.endResetModel()

    def clear_thumbnails(self) -> None:
        """Forget every thumbnail, those still being made included: image ids are per project, so
        after a project switch id 3 is another file (call before ``set_rows`` of the new project)."""
        self._generation += 1
        self._thumbs.clear()
        self._pending.clear()

    def update_rows(self, rows: Iterable[ImageSummary]) -> None:
        """Replace the summaries of some images in place (after an edit)."""
        for summary in rows:
            i = self._row_of.get(summary.id)
            if i is not None:
                self._rows[i] = summary
                index = self.index(i)
                self.dataChanged.emit(index, index)

    def reorder(self, image_ids: list[int]) -> None:
        """Put the given images first, in that order (a review-queue order); the rest keep theirs."""
        first = [self._rows[self._row_of[i]] for i in image_ids if i in self._row_of]
        chosen = {r.id for r in first}
        self.set_rows(first + [r for r in self._rows if r.id not in chosen])

    def summary(self, row: int) -> ImageSummary:
        return self._rows[row]

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def image_ids(self) -> list[int]:
        return [r.id for r in self._rows]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            extra = f" · {r.proposed} to review" if r.proposed else ""
            return f"{r.rel_path}\n{r.labels} faces{extra}"
        if role == Qt.ItemDataRole.ToolTipRole:
            score = "" if r.max_score is None else f", best proposal {r.max_score:.2f}"
            return f"{r.rel_path} ({r.width}x{r.height}) — {r.status.replace('_', ' ')}{score}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(r)
        if role == SUMMARY_ROLE:
            return r
        if role == IMAGE_ID_ROLE:
            return r.id
        return None

    # -- thumbnails ------------------------------------------------------------------------
    def _decoration(self, r: ImageSummary) -> QImage:
        thumb = self._thumbs.get(r.id)
        if thumb is not None:
            self._thumbs.move_to_end(r.id)
        elif r.id not in self._thumbs and self.thumbnails_enabled and self._path_of is not None:
            self._request(r)
        base = thumb if thumb is not None else _placeholder(r)
        return _with_badge(base, STATUS_COLORS.get(r.status, QColor("white")))

    def _request(self, r: ImageSummary) -> None:
        if r.id in self._pending:
            return
        self._pending.add(r.id)
        self._pool.start(_ThumbJob(self._generation, r.id, self._path_of(r), self._signals))

    def _on_thumb(self, generation: int, image_id: int, thumb) -> None:
        if generation != self._generation:
            return  # made for the previous project's image of this id
        self._pending.discard(image_id)
        self._thumbs[image_id] = thumb
        while len(self._thumbs) > THUMB_CACHE:
            self._thumbs.popitem(last=False)
        row = self._row_of.get(image_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def wait_for_thumbnails(self, msecs: int = 10_000) -> bool:
        return self._pool.waitForDone(msecs)

    def thumbnail_cached(self, image_id: int) -> bool:
        return self._thumbs.get(image_id) is not None


def _placeholder(r: ImageSummary) -> QImage:
    height = max(1, round(r.height * THUMB_WIDTH / max(1, r.width)))
    image = QImage(THUMB_WIDTH, height, QImage.Format.Format_RGB888)
    image.fill(QColor(40, 40, 40))
    return image


def _with_badge(image: QImage, color: QColor) -> QImage:
    out = image.copy()
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor(0, 0, 0))
    painter.setBrush(color)
    painter.drawEllipse(out.width() - 16, 4, 12, 12)
    painter.end()
    return out


class ImageFilterProxy(QSortFilterProxyModel):
    """Filters rows by review status, detections, proposal score range and a text in the path."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.statuses: set[str] | None = None
        self.has_detections: bool | None = None
        self.score_range: tuple[float, float] | None = None
        self.text = ""

    def set_filter(self, *, statuses: Iterable[str] | None = None, has_detections: bool | None = None,
                   score_range: tuple[float, float] | None = None, text: str = "") -> None:
        changing = hasattr(self, "beginFilterChange")  # Qt ≥ 6.10; invalidateFilter() is deprecated there
        if changing:
            self.beginFilterChange()
        self.statuses = None if statuses is None else set(statuses)
        self.has_detections = has_detections
        self.score_range = score_range
        self.text = text.lower()
        if changing:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        r: ImageSummary = self.sourceModel().summary(source_row)
        if self.statuses is not None and r.status not in self.statuses:
            return False
        if self.has_detections is not None and (r.proposed > 0) != self.has_detections:
            return False
        if self.score_range is not None:
            lo, hi = self.score_range
            if r.max_score is None or not lo <= r.max_score <= hi:
                return False
        return not self.text or self.text in r.rel_path.lower()
