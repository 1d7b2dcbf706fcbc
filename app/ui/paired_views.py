"""Original and enhanced side by side over one scene of boxes, always showing the same region.

Both ``PixelView``s show the same ``QGraphicsScene`` (the editable boxes) over their own image.
Whenever one view's zoom or scroll position changes, the other takes its transform and centre,
so the two always show the same image region. Layouts: ``side`` (both), ``single`` (one view;
``show_enhanced`` picks which) and ``split`` (one view, original left and enhanced right of a
draggable split position).

The loupe (``set_loupe``): a magnifier beside the pointer in both views at once, at the same image
point, so a tiny face's pixels can be read in the original and the enhanced image side by side;
while it is on, drags edit at the loupe's scale (see ``app.ui.loupe``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QGraphicsScene, QHBoxLayout, QSlider, QSplitter, QVBoxLayout, QWidget

from app.ui.loupe import LOUPE_ZOOMS, Loupe
from app.ui.pixel_view import PixelView

LAYOUTS = ("side", "single", "split")


class PairedViews(QWidget):
    """Two synchronised views (``left`` = original, ``right`` = enhanced) sharing one scene."""

    zoom_changed = Signal(float)
    cursor_moved = Signal(float, float)
    loupe_changed = Signal(bool, int)
    """``(on, factor)`` after ``set_loupe`` or ``set_loupe_zoom`` (Ctrl+wheel) changed either."""

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.left = PixelView(scene)
        self.right = PixelView(scene)
        self.left.setObjectName("originalView")
        self.right.setObjectName("enhancedView")
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.addWidget(self.left)
        self._splitter.addWidget(self.right)
        self._splitter.setChildrenCollapsible(False)
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 1000)
        self.split_slider.setValue(500)
        self.split_slider.setToolTip("Compare: original left of the line, enhanced right of it")
        self.split_slider.valueChanged.connect(self._on_split)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self._splitter, 1)
        row = QHBoxLayout()
        row.addWidget(self.split_slider)
        box.addLayout(row)
        self._original: QImage | None = None
        self._enhanced: QImage | None = None
        self._layout = "side"
        self._show_enhanced = False
        self._syncing = False
        self.left.view_changed.connect(self._left_changed)
        self.right.view_changed.connect(self._right_changed)
        for view in (self.left, self.right):
            view.zoom_changed.connect(self.zoom_changed)
            view.cursor_moved.connect(self.cursor_moved)
        self._loupes = (Loupe(self.left), Loupe(self.right))
        left_loupe, right_loupe = self._loupes
        left_loupe.pointed.connect(right_loupe.follow)  # the view under the mouse drives the other
        right_loupe.pointed.connect(left_loupe.follow)
        for source in self._loupes:
            source.zoom_step.connect(self._step_loupe_zoom)
        self.set_layout("side")

    # -- images ----------------------------------------------------------------------------
    def set_images(self, original: QImage | None, enhanced: QImage | None = None) -> None:
        """A new image pair (the scene rect must already be the image size)."""
        same_size = (self._original is not None and original is not None
                     and self._original.size() == original.size())
        self._original, self._enhanced = original, enhanced
        self._apply_images()
        if not same_size or self.active().is_fitted():
            self.active().fit()
            self._sync(self.active(), self.other())

    def set_enhanced(self, enhanced: QImage | None) -> None:
        """Replace the enhanced image (a live preview may be smaller: it is stretched to fit)."""
        self._enhanced = enhanced
        self._apply_images()

    def original(self) -> QImage | None:
        return self._original

    def enhanced(self) -> QImage | None:
        return self._enhanced

    def _apply_images(self) -> None:
        if self._layout == "split":
            self.left.set_image(self._original)
            self.left.set_compare(self._enhanced, self.split_slider.value() / 1000)
        elif self._layout == "single" and self._show_enhanced:
            self.left.set_compare(None)
            self.left.set_image(self._enhanced or self._original)
        else:
            self.left.set_compare(None)
            self.left.set_image(self._original)
        self.right.set_image(self._enhanced or self._original)

    # -- layout ----------------------------------------------------------------------------
    def set_layout(self, layout: str) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self._layout = layout
        self.right.setVisible(layout == "side")
        self.split_slider.setVisible(layout == "split")
        self._apply_images()

    def layout_name(self) -> str:
        return self._layout

    def shows_enhanced(self) -> bool:
        return self._show_enhanced

    def set_show_enhanced(self, enhanced: bool) -> None:
        """In the single layout: show the enhanced image instead of the original."""
        self._show_enhanced = enhanced
        self._apply_images()

    def _on_split(self, value: int) -> None:
        if self._layout == "split":
            self.left.set_compare(self._enhanced, value / 1000)

    # -- zoom and sync ---------------------------------------------------------------------
    def active(self) -> PixelView:
        """The view that has (or last had) the focus; the left one by default."""
        return self.right if self.right.hasFocus() and self.right.isVisible() else self.left

    def other(self) -> PixelView:
        return self.left if self.active() is self.right else self.right

    def views(self) -> tuple[PixelView, PixelView]:
        return self.left, self.right

    def fit(self) -> None:
        self.active().fit()

    def actual_size(self) -> None:
        self.active().actual_size()

    def zoom_by(self, factor: float) -> None:
        self.active().zoom_by(factor)

    def show_region(self, rect) -> None:
        """Both views show ``rect`` of the image (scene coordinates), as large as fits."""
        self.active().show_region(rect)

    def zoom(self) -> float:
        return self.active().zoom()

    def _left_changed(self) -> None:
        self._sync(self.left, self.right)

    def _right_changed(self) -> None:
        self._sync(self.right, self.left)

    def _sync(self, source: PixelView, target: PixelView) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            target.show_like(source)
        finally:
            self._syncing = False

    # -- loupe -----------------------------------------------------------------------------
    def loupes(self) -> tuple[Loupe, Loupe]:
        """The loupes of the left (original) and right (enhanced) view."""
        return self._loupes

    def loupe_enabled(self) -> bool:
        return self._loupes[0].enabled()

    def set_loupe(self, on: bool) -> None:
        """Show the magnifier in both views (and drag at its scale) or hide it."""
        on = bool(on)
        if on == self.loupe_enabled():
            return
        for loupe in self._loupes:
            loupe.set_enabled(on)
        self.loupe_changed.emit(on, self.loupe_zoom())

    def toggle_loupe(self) -> None:
        self.set_loupe(not self.loupe_enabled())

    def loupe_zoom(self) -> int:
        return self._loupes[0].factor()

    def set_loupe_zoom(self, factor: int) -> None:
        """Screen pixels per image pixel in the loupe (4, 6, 8 are the steps; 2 to 16 allowed)."""
        if factor == self.loupe_zoom():
            return
        for loupe in self._loupes:
            loupe.set_factor(factor)
        self.loupe_changed.emit(self.loupe_enabled(), self.loupe_zoom())

    def _step_loupe_zoom(self, step: int) -> None:
        current = self.loupe_zoom()
        if step > 0:
            larger = [z for z in LOUPE_ZOOMS if z > current]
            self.set_loupe_zoom(larger[0] if larger else current)
        else:
            smaller = [z for z in LOUPE_ZOOMS if z < current]
            self.set_loupe_zoom(smaller[-1] if smaller else current)

