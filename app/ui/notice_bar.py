"""A non-modal notice above the image views: what just went wrong or needs a second look.

The status bar is where nobody looks (and at 1440×900 it can be below the screen edge), and a
modal dialog stops a reviewer's flow for something they may already know. The bar says it where
the reviewer's eyes are, offers one action (Undo, Show log, …), and goes away by itself.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

KINDS = {"info": ("#20384f", "#9fd0ff"), "warning": ("#4a3b12", "#ffd77a"), "error": ("#4f1d1d", "#ff9c9c")}
"""Background and text colours per kind of notice."""
SHOWN_MS = {"info": 6_000, "warning": 12_000, "error": 20_000}
"""How long a notice stays before hiding by itself."""


class NoticeBar(QFrame):
    """``show_notice(text, kind, action=(label, callback))``; hidden until there is something to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton()
        self.action_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the views
        self.action_button.clicked.connect(self._on_action)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.action_button)
        row.addWidget(close)
        self._callback: Callable[[], None] | None = None
        self._kind = "info"
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_notice(self, text: str, kind: str = "info",
                    action: tuple[str, Callable[[], None]] | None = None) -> None:
        background, foreground = KINDS[kind]
        self._kind = kind
        self.setStyleSheet(f"#noticeBar {{ background: {background}; border-radius: 4px; }} "
                           f"#noticeBar QLabel {{ color: {foreground}; }}")
        self.label.setText(text)
        self._callback = action[1] if action else None
        self.action_button.setVisible(action is not None)
        if action is not None:
            self.action_button.setText(action[0])
        self.show()
        self._timer.start(SHOWN_MS[kind])

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def kind(self) -> str:
        return self._kind

    def _on_action(self) -> None:
        callback = self._callback
        self.hide()
        if callback is not None:
            callback()
