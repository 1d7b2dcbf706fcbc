"""The Qt binding itself: guards against binding bugs that would crash a long session.

PySide6 6.12.0's ``SignalInstance.emit`` returns ``True`` without taking a reference, so every
emit from Python lowers ``True``'s reference count by one; after a few thousand emits (a
progress bar, a slider drag) the interpreter aborts with "bool_dealloc". pyproject pins
``PySide6-Essentials<6.12``; this test fails on any binding with that bug.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    value = Signal(float)


def test_emitting_signals_does_not_leak_references_to_true(qapp):
    emitter = _Emitter()
    received = []
    emitter.value.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(200):
        emitter.plain.emit()
        emitter.value.emit(float(i))
    after = sys.getrefcount(True)
    assert len(received) == 200
    assert abs(after - before) < 20, f"True's reference count moved by {after - before} over 400 emits"
