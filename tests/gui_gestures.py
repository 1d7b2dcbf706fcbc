"""Mouse gestures on a real ``QGraphicsView``, in scene (image pixel) coordinates, as a person makes them."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QGraphicsView


def drag(view: QGraphicsView, start: tuple[float, float], end: tuple[float, float], steps: int = 4) -> None:
    """Press at scene point ``start``, move in steps, release at ``end`` (left button)."""
    viewport = view.viewport()
    a, b = view.mapFromScene(QPointF(*start)), view.mapFromScene(QPointF(*end))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, steps + 1):
        QTest.mouseMove(viewport, a + (b - a) * (i / steps))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def click(view: QGraphicsView, at: tuple[float, float]) -> None:
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view.mapFromScene(QPointF(*at)))
