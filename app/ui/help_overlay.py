"""The keyboard help (?): a translucent sheet over the window listing ``app.ui.keymap``."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.ui.keymap import KEYMAP, help_rows


class HelpOverlay(QWidget):
    """Covers its parent; any key or click closes it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.label = QLabel(self._html())
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setStyleSheet("color: #f0f0f0; font-size: 13px;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.label, 0, Qt.AlignmentFlag.AlignCenter)
        self.hide()

    @staticmethod
    def _html() -> str:
        rows, group = [], None
        for g, keys, label in help_rows(KEYMAP):
            if g != group:
                rows.append(f"<tr><td colspan=2><br><b>{escape(g)}</b></td></tr>")
                group = g
            rows.append(f"<tr><td style='padding-right:18px'><code>{escape(keys)}</code></td>"
                        f"<td>{escape(label)}</td></tr>")
        return "<h3>Keyboard</h3><table>" + "".join(rows) + "</table><p>Any key closes this help.</p>"

    def text(self) -> str:
        return self.label.text()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self.setGeometry(self.parentWidget().rect())
            self.show()
            self.raise_()
            self.setFocus()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 200))

    def keyPressEvent(self, event) -> None:
        self.hide()
        event.accept()

    def mousePressEvent(self, event) -> None:
        self.hide()
        event.accept()
