"""Ctrl+C in the terminal that started the app closes it as the window's close button does.

Python runs a signal handler only between bytecodes, never while Qt's event loop waits inside
C++, so by default the SIGINT waits until the next event (or forever when the app idles). The
signal module's wakeup fd fixes that: the C-level handler writes a byte to a socket that a
``QSocketNotifier`` watches, which wakes the loop, and the Python handler then runs. The first
Ctrl+C closes the window (jobs stop, every edit is already committed); a second one quits even
if closing is held up.
"""

from __future__ import annotations

import signal
import socket

from PySide6.QtCore import QObject, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication, QWidget


class InterruptCloser(QObject):
    """Installs the SIGINT handler for ``window`` (keep a reference as long as the app runs)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        self._count = 0
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno())
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _drain(self) -> None:
        try:
            while self._read.recv(64):
                pass
        except (BlockingIOError, OSError):
            pass

    def _on_sigint(self, _signum, _frame) -> None:
        self._count += 1
        if self._count == 1:
            QTimer.singleShot(0, self._window.close)
        else:
            QApplication.quit()

    def uninstall(self) -> None:
        """Give SIGINT and the wakeup fd back as they were."""
        signal.signal(signal.SIGINT, self._previous_handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._read.close()
        self._write.close()
