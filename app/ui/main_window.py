"""The main window: a folder's images in a list, the selected one with its boxes in a view.

This is the first, small review window; the pieces it composes (image list model, image view,
annotated-image loading, sample-project job) are the ones the full review GUI will reuse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QModelIndex, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QListView,
    QMainWindow,
    QProgressBar,
    QSizePolicy,
    QWidget,
)

from app.jobs.sample_job import SampleProjectJob
from app.ui.annotated_image import AnnotatedImage, load_annotated_image
from app.ui.app_icon import app_icon
from app.ui.image_folder import find_label, scan_images
from app.ui.image_list_model import ImageListModel
from app.ui.image_view import ImageView

APP_TITLE = "DarkFace Studio"
DEFAULT_SIZE = (1280, 800)
SAMPLE_IMAGES = "night"
"""The sample folder opened when generation ends: the night images are what the app is for."""

_GEOMETRY_KEY = "window/geometry"
_STATE_KEY = "window/state"
_LAST_FOLDER_KEY = "folders/last"


class MainWindow(QMainWindow):
    """Browse a folder of images and their DARK FACE ground truth."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings if settings is not None else QSettings()
        self._folder: Path | None = None
        self._current: AnnotatedImage | None = None
        self._sample_job: SampleProjectJob | None = None

        self._model = ImageListModel(self)
        self._list = QListView()
        self._list.setObjectName("imageList")
        self._list.setModel(self._model)
        self._list.setUniformItemSizes(True)  # constant-time layout for thousands of rows
        self._dock = QDockWidget("Images", self)
        self._dock.setObjectName("imagesDock")  # saveState() needs a name
        self._dock.setWidget(self._list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self._dock)

        self._view = ImageView(self)
        self._view.setObjectName("imageView")
        self.setCentralWidget(self._view)

        self._info = QLabel()
        self._info.setObjectName("statusInfo")
        # Ignored: a long error message must not force the window wider; the tooltip has it all.
        self._info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.statusBar().addWidget(self._info, 1)
        self._progress = QProgressBar()
        self._progress.setMaximumWidth(220)
        self._progress.setFormat("Sample project %v/%m")
        self._progress.hide()
        self.statusBar().addPermanentWidget(self._progress)

        self._create_actions()
        self._create_menus()
        self._list.selectionModel().currentChanged.connect(self._on_current_changed)
        self._view.zoom_changed.connect(self._refresh_status)

        icon = app_icon()
        if icon is not None:
            self.setWindowIcon(icon)
        self.setWindowTitle(APP_TITLE)
        self._restore_geometry()

    # -- construction ----------------------------------------------------------------------
    def _action(self, text: str, shortcuts: list[str], slot: Callable[..., object], tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _create_actions(self) -> None:
        self.open_folder_action = self._action(
            "&Open Folder…", ["Ctrl+O"], self._choose_folder, "Open a folder of images"
        )
        # Explicit Ctrl+Q: StandardKey.Quit has no binding on Windows.
        self.quit_action = self._action("&Quit", ["Ctrl+Q"], self.close, "Quit DarkFace Studio")
        self.fit_action = self._action("&Fit to Window", ["F"], self._view.fit, "Show the whole image")
        self.actual_size_action = self._action(
            "&Actual Size", ["1"], self._view.actual_size, "One image pixel per screen pixel (100 %)"
        )
        self.show_boxes_action = self._action(
            "Show &Boxes", ["H"], self._view.set_boxes_visible, "Show or hide the ground-truth boxes"
        )
        self.show_boxes_action.setCheckable(True)
        self.show_boxes_action.setChecked(self._view.boxes_visible())
        self.next_action = self._action("&Next Image", ["D", "PgDown"], self.next_image, "Go to the next image")
        self.previous_action = self._action(
            "&Previous Image", ["A", "PgUp"], self.previous_image, "Go to the previous image"
        )

    def _create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_folder_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.fit_action, self.actual_size_action])
        view_menu.addSeparator()
        view_menu.addAction(self.show_boxes_action)
        view_menu.addSeparator()
        view_menu.addAction(self._dock.toggleViewAction())
        navigate_menu = bar.addMenu("&Navigate")
        navigate_menu.addActions([self.next_action, self.previous_action])

    # -- folder and selection --------------------------------------------------------------
    def open_folder(self, path: str | os.PathLike[str]) -> bool:
        """Show the images of ``path``; returns False (with a message) when it cannot be listed."""
        folder = Path(path).expanduser().absolute()
        try:
            images = scan_images(folder)
        except OSError as exc:
            self._show_problem(f"Cannot open folder {folder}: {exc.strerror or exc}")
            return False
        self._folder = folder
        self._current = None
        self._model.set_images(images)
        self.setWindowTitle(f"{APP_TITLE} — {folder}")
        self._settings.setValue(_LAST_FOLDER_KEY, str(folder))
        if not images:
            self._show_problem(f"no images in {folder}")
        else:
            self.select_index(0)
        return True

    def folder(self) -> Path | None:
        return self._folder

    def select_index(self, row: int) -> None:
        """Make image ``row`` current (ignored when out of range)."""
        if 0 <= row < self._model.rowCount():
            self._list.setCurrentIndex(self._model.index(row, 0))

    def current_row(self) -> int:
        """The current image's row, or -1 when none."""
        return self._list.currentIndex().row()

    def current_path(self) -> Path | None:
        row = self.current_row()
        return self._model.path(row) if row >= 0 else None

    def next_image(self) -> None:
        self.select_index(self.current_row() + 1)

    def previous_image(self) -> None:
        self.select_index(max(self.current_row() - 1, 0))

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._load_row(current.row())

    def _load_row(self, row: int) -> None:
        path = self._model.path(row)
        loaded = load_annotated_image(path, find_label(path))
        self._current = loaded
        if loaded.boxes is not None:
            self._model.set_face_count(row, len(loaded.boxes))
        if loaded.image is None:
            self._view.show_message(loaded.image_error or f"Cannot read image {path}")
        else:
            self._view.set_image(loaded.image, loaded.boxes)
        self._refresh_status()

    # -- status ----------------------------------------------------------------------------
    def status_text(self) -> str:
        """The text of the status bar's information field."""
        return self._info.text()

    def image_view(self) -> ImageView:
        return self._view

    def image_list(self) -> QListView:
        return self._list

    def model(self) -> ImageListModel:
        return self._model

    def _set_status(self, text: str) -> None:
        self._info.setText(text)
        self._info.setToolTip(text)

    def _show_problem(self, text: str) -> None:
        """Say why nothing (or not everything) is shown, in the status bar and in the view."""
        self._view.show_message(text)
        self._set_status(text)

    def _refresh_status(self) -> None:
        loaded = self._current
        if loaded is None:
            return
        if loaded.image is None:
            self._set_status(loaded.image_error or "")
            return
        if loaded.label_error is not None:
            faces = f"label error: {loaded.label_error}"
        elif loaded.boxes is None:
            faces = "no label file"
        else:
            count = len(loaded.boxes)
            faces = f"{count} face" if count == 1 else f"{count} faces"
        size = f"{loaded.image.width()}×{loaded.image.height()}"
        zoom = f"{self._view.zoom() * 100:.0f} %"
        self._set_status(" — ".join([loaded.path.name, size, faces, zoom]))

    # -- sample project --------------------------------------------------------------------
    def start_sample_project(self, base: str | os.PathLike[str], **options: Any) -> SampleProjectJob:
        """Generate (or reuse) the sample project under ``base`` in the background.

        When it is ready its night images are opened, unless the user opened a folder meanwhile.
        ``options`` go to ``ensure_sample_project`` (tests pass a small ``n``/``config``).
        """
        if self._sample_job is not None:
            if self._sample_job.is_running():
                return self._sample_job
            self._sample_job.deleteLater()  # finished: its thread is over, nothing keeps it
        # Parented to the application, not the window: destroying a QThread that is still running
        # aborts the process, and a window can be deleted without being closed (no stop_jobs()).
        job = SampleProjectJob(base, QCoreApplication.instance(), **options)
        job.progress.connect(self._on_sample_progress)
        job.finished.connect(self._on_sample_ready)
        job.failed.connect(self._on_sample_failed)
        job.cancelled.connect(self._progress.hide)
        self._sample_job = job
        self._progress.setRange(0, 0)  # busy until the first progress report
        self._progress.show()
        if self._folder is None:
            self._set_status(f"Preparing the sample project in {Path(base)}…")
        job.start()
        return job

    def sample_job(self) -> SampleProjectJob | None:
        return self._sample_job

    def _on_sample_progress(self, done: int, total: int) -> None:
        self._progress.setRange(0, max(total, 1))
        self._progress.setValue(done)

    def _on_sample_ready(self, path: Path) -> None:
        self._progress.hide()
        images = Path(path) / SAMPLE_IMAGES
        if self._folder is None:
            self.open_folder(images)
        else:
            self.statusBar().showMessage(f"Sample project ready: {images}", 8000)

    def _on_sample_failed(self, message: str) -> None:
        self._progress.hide()
        if self._folder is None:
            self._show_problem(message)
        else:
            self.statusBar().showMessage(message, 15000)

    def stop_jobs(self) -> None:
        """Cancel background work and wait for it, so no thread outlives the window."""
        if self._sample_job is not None:
            self._sample_job.stop()

    # -- window state ----------------------------------------------------------------------
    def _choose_folder(self) -> None:
        start = str(self._folder or self._settings.value(_LAST_FOLDER_KEY, "") or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open Folder", start)
        if folder:
            self.open_folder(folder)

    def _restore_geometry(self) -> None:
        geometry = self._settings.value(_GEOMETRY_KEY)
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(*DEFAULT_SIZE)
        state = self._settings.value(_STATE_KEY)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop_jobs()
        self._settings.setValue(_GEOMETRY_KEY, self.saveGeometry())
        self._settings.setValue(_STATE_KEY, self.saveState())
        self._settings.sync()
        super().closeEvent(event)
