"""Words drawn over the image views, where the reviewer is looking (not in a status bar below).

``ViewCaption``: which picture a view shows ("original", "enhanced (MSRCR)") and, on the
original, how many model boxes the min-score slider hides. ``ViewMessage``: a centred message
with an optional progress bar over empty views (first launch, the sample project being made).
Both are child widgets of the view, so they stay put while the image pans and zooms, and they
let the mouse through to the view.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

_CAPTION_STYLE = ("QLabel { background: rgba(0, 0, 0, 150); color: #e8e8e8; padding: 2px 6px;"
                  " border-radius: 3px; }")
_MARGIN = 6


def method_short_name(label: str) -> str:
    """"MSRCR (Retinex + colour restoration)" → "MSRCR": the name a caption has room for."""
    return label.split(" (")[0].strip()


class ViewCaption(QLabel):
    """A small label pinned to the top-left corner of ``view`` (a view's viewport, so a loupe shows over it)."""

    def __init__(self, view: QWidget, text: str = "") -> None:
        super().__init__(text, view)
        self.setObjectName("viewCaption")
        self.setStyleSheet(_CAPTION_STYLE)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.move(_MARGIN, _MARGIN)
        self.setToolTip("Model proposals below the min score (slider, bottom right) are not drawn")
        self.adjustSize()
        self.show()
        view.installEventFilter(self)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self._fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Resize:
            self._fit()
        return False

    def moveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Scrolling a view's viewport moves its children with the picture: stay in the corner."""
        super().moveEvent(event)
        if self.pos() != QPoint(_MARGIN, _MARGIN):
            self.move(_MARGIN, _MARGIN)

    def _fit(self) -> None:
        """As wide as the text, never wider than the view (a narrow view elides the end)."""
        self.adjustSize()
        room = self.parentWidget().width() - 2 * _MARGIN
        if self.width() > room > 0:
            self.setFixedWidth(room)
        else:
            self.setMinimumWidth(0)
            self.setMaximumWidth(16_777_215)
            self.adjustSize()


class ViewMessage(QWidget):
    """A centred message (and progress bar when ``total`` is given) over ``view``; hidden by ``clear``."""

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self.setObjectName("viewMessage")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet("QWidget#viewMessage { background: rgba(0, 0, 0, 170); border-radius: 6px; }"
                           " QLabel { color: #f0f0f0; font-size: 14px; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        column = QVBoxLayout(self)
        column.setContentsMargins(18, 14, 18, 14)
        column.addWidget(self.label)
        column.addWidget(self.bar)
        self.hide()
        view.installEventFilter(self)

    def show_message(self, text: str, done: int | None = None, total: int | None = None) -> None:
        """Show ``text``; with ``total`` a bar at ``done / total`` (``total == 0``: busy)."""
        self.label.setText(text)
        self.bar.setVisible(total is not None)
        if total is not None:
            self.bar.setRange(0, max(total, 0))
            self.bar.setValue(done or 0)
        self._place()
        self.show()
        self.raise_()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def clear(self) -> None:
        self.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False

    def _place(self) -> None:
        parent = self.parentWidget()
        width = min(460, max(parent.width() - 2 * _MARGIN, 120))
        self.setFixedWidth(width)
        self.adjustSize()
        self.move((parent.width() - self.width()) // 2, (parent.height() - self.height()) // 2)
