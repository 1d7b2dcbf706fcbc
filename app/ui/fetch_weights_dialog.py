"""Models → "Get the authors' SRN model…": download ``SRN.pth``, verify it, register it in the project.

The dialog stays out of the way (not modal): the download runs as a ``FetchJob`` in its own
thread, with progress, the destination, Cancel (the ``.part`` file stays, "Resume" continues
it) and the error text when it fails. Once the file is installed it is registered as a model
version of the open project and the Detect panel's model picker is refreshed.

Where the bytes come from is ``source_factory()`` (or the ``source`` given to the dialog):
tests point it at a local server.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs.fetch_job import FetchJob
from srn.weights.authors import (
    AUTHORS_BAIDU_CODE,
    AUTHORS_BAIDU_URL,
    AUTHORS_FILE,
    AUTHORS_MODEL,
)

MODEL_NAME = "SRN ResNet-50 (authors, WIDER FACE)"
"""The name the model gets in a project."""
ACTION_TEXT = "Get the authors' SRN model…"
ACTION_NAME = "fetch_authors_model"
MENU_TITLE = "&Models"
BAIDU_HINT = (f"If Google Drive cannot be reached: download {AUTHORS_FILE} from BaiduYun ({AUTHORS_BAIDU_URL}, "
              f"extraction code {AUTHORS_BAIDU_CODE}) in a browser, then use Detect → Model → Load weights file…")


def authors_source(mirror: str | None = None, srn_config: dict | None = None):
    """The authors' model on Google Drive, or at ``mirror`` (an http(s)/file URL or a local file)."""
    from srn.weights.fetch import resolve_source

    return resolve_source(AUTHORS_MODEL, mirror=mirror, srn_config=srn_config)


source_factory: Callable[[], object] = authors_source
"""Gives the dialog's default ``srn.weights.Source``; replace it to fetch from elsewhere."""


def default_destination() -> Path:
    """``<app data folder>/models/SRN.pth``; the command line's copy if only that one exists."""
    from app.sample_project import data_dir
    from srn.weights.catalogue import default_path, known_model

    ours = data_dir() / "models" / AUTHORS_FILE
    theirs = default_path(known_model(AUTHORS_MODEL))
    return theirs if not ours.exists() and theirs.is_file() else ours


def _kib(n: int) -> int:
    return max(0, int(n) // 1024)


class FetchWeightsDialog(QDialog):
    """Progress and outcome of one model download; ``start()`` (re)starts or resumes it."""

    def __init__(self, parent: QWidget | None = None, *, source=None, dest: str | os.PathLike[str] | None = None,
                 window: QMainWindow | None = None, drive_download=None) -> None:
        super().__init__(parent)
        self.setObjectName("fetchWeightsDialog")
        self.setWindowTitle("Get the authors' SRN model")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setMinimumWidth(520)
        self._source = source if source is not None else source_factory()
        self._dest = Path(dest) if dest is not None else default_destination()
        self._window = window
        self._drive_download = drive_download
        self._job: FetchJob | None = None
        self._can_retry = False
        self.registered = None
        """The project's ``ModelVersionData`` for the fetched file, once registered."""

        intro = QLabel("SRN ResNet-50 trained on WIDER FACE, released by the authors (Chi, Zhang et al., "
                       "AAAI 2019). It is checked key by key before it is used.")
        intro.setWordWrap(True)
        self.source_label = QLabel(self._source.url)
        self.source_label.setObjectName("fetchSource")
        self.dest_label = QLabel(str(self._dest))
        self.dest_label.setObjectName("fetchDestination")
        for label in (self.source_label, self.dest_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("fetchProgress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("")
        self.status_label.setObjectName("fetchStatus")
        self.status_label.setWordWrap(True)
        self.error_label = QLabel("")
        self.error_label.setObjectName("fetchError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.buttons = QDialogButtonBox()
        self.retry_button = QPushButton("Resume")
        self.retry_button.setObjectName("fetchRetry")
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("fetchCancel")
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setObjectName("fetchClose")
        self.buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

        form = QFormLayout()
        form.addRow("From", self.source_label)
        form.addRow("To", self.dest_label)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._update_buttons()

    # -- state ---------------------------------------------------------------------------------
    @property
    def job(self) -> FetchJob | None:
        return self._job

    @property
    def destination(self) -> Path:
        return self._dest

    def is_running(self) -> bool:
        return self._job is not None and self._job.is_running()

    def _update_buttons(self) -> None:
        running = self._job is not None
        self.cancel_button.setEnabled(running)
        self.retry_button.setVisible(not running and self._can_retry)

    # -- actions -------------------------------------------------------------------------------
    def start(self) -> FetchJob | None:
        """Begin (or resume) the download; no-op while one runs."""
        if self._job is not None:
            return self._job
        self.error_label.hide()
        self.error_label.clear()
        self.status_label.setText("Connecting…")
        job = FetchJob(self._source, self._dest, drive_download=self._drive_download,
                       parent=QCoreApplication.instance())
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(job.stop)
        self._job = job
        self._can_retry = False
        self._update_buttons()
        job.start()
        return job

    def cancel(self) -> None:
        """Stop the download after the chunk in flight; its ``.part`` file stays for "Resume"."""
        if self._job is not None:
            self.status_label.setText("Cancelling…")
            self._job.cancel()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the download thread (for window close and tests)."""
        return self._job.stop(timeout_ms) if self._job is not None else True

    def done(self, result: int) -> None:  # close, Esc, Close button
        self.cancel()
        super().done(result)

    # -- job signals ---------------------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, max(1, _kib(total)))
            self.progress_bar.setValue(min(_kib(done), self.progress_bar.maximum()))
            self.status_label.setText(f"Downloading… {done / 1e6:.1f} of {total / 1e6:.1f} MB" if done < total
                                      else "Checking the file against the network…")
        else:
            self.progress_bar.setRange(0, 0)  # busy: size not announced
            self.status_label.setText(f"Downloading… {done / 1e6:.1f} MB")

    def _end_job(self) -> FetchJob | None:
        job, self._job = self._job, None
        if job is not None:
            app = QCoreApplication.instance()
            if app is not None:
                try:
                    app.aboutToQuit.disconnect(job.stop)
                except (RuntimeError, TypeError):  # pragma: no cover - already disconnected
                    pass
            job.wait(5_000)  # the thread is quitting right after its last signal
            job.deleteLater()
        if self.progress_bar.maximum() == 0:  # ended before the size was known
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
        return job

    def _on_finished(self, path: Path) -> None:
        result = self._job.result if self._job is not None else None
        self._end_job()
        size = result.size if result is not None else Path(path).stat().st_size
        self.progress_bar.setRange(0, max(1, _kib(size)))
        self.progress_bar.setValue(self.progress_bar.maximum())
        how = "Downloaded and verified" if result is None or result.downloaded else "Already on this machine, verified"
        detail = f": {result.verified.summary()}" if result is not None else ""
        lines = [f"{how}{detail}.", str(path)]
        try:
            lines.append(self._register(Path(path)))
        except Exception as exc:  # noqa: BLE001 - StoreError, OSError: show it, the file stays
            self._show_error(f"The model was downloaded to {path} but could not be added to the project: {exc}")
        self.status_label.setText("\n".join(lines))
        self._update_buttons()

    def _register(self, path: Path) -> str:
        """Add the file to the window's project (once) and refresh the Detect panel's picker."""
        project = getattr(self._window, "project", None)
        if project is None:
            return "Open a project to use it: Detect → Model → Load weights file…"
        from app.store import model_versions, register_model

        existing = {m.name: m for m in model_versions(project)}
        if MODEL_NAME in existing:
            self.registered = existing[MODEL_NAME]
            message = f"The project already has the model “{MODEL_NAME}”."
        else:
            self.registered = register_model(project, MODEL_NAME, path)
            message = f"Added to the project as the model “{MODEL_NAME}”."
        panel = getattr(self._window, "detect_panel", None)
        refresh = getattr(panel, "refresh_models", None)
        if callable(refresh):
            try:
                refresh(select_id=self.registered.id)
            except TypeError:  # a picker without selection support
                refresh()
        return message

    def _show_error(self, message: str) -> None:
        hint = f"\n\n{BAIDU_HINT}" if self._source.drive_id else ""
        self.error_label.setText(message + hint)
        self.error_label.show()

    def _on_failed(self, message: str) -> None:
        self._end_job()
        self.status_label.setText("The download failed; nothing was installed.")
        self._show_error(message)
        self.retry_button.setText("Try again")
        self._can_retry = True
        self._update_buttons()

    def _on_cancelled(self, message: str) -> None:
        self._end_job()
        self.status_label.setText("Cancelled. The part already downloaded is kept: “Resume” continues from it.")
        self.error_label.setText(message)
        self.error_label.show()
        self.retry_button.setText("Resume")
        self._can_retry = True
        self._update_buttons()


def open_fetch_dialog(window: QMainWindow, *, source=None, dest: str | os.PathLike[str] | None = None,
                      drive_download=None) -> FetchWeightsDialog:
    """Show the window's fetch dialog (one per window) and start the download unless one runs."""
    dialog = window.findChild(FetchWeightsDialog, "fetchWeightsDialog")
    if dialog is None:
        dialog = FetchWeightsDialog(window, source=source, dest=dest, window=window, drive_download=drive_download)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    if not dialog.is_running():
        dialog.start()  # a file already in place is only verified (and registered in this project)
    return dialog


def add_models_menu(window: QMainWindow, *, source=None, dest: str | os.PathLike[str] | None = None,
                    drive_download=None) -> QMenu:
    """Add (or extend) the window's "&Models" menu with "Get the authors' SRN model…".

    ``window.project`` (an ``app.store.Project`` or None) receives the model; ``window.detect_panel``
    is refreshed if it has ``refresh_models``.
    """
    bar = window.menuBar()
    menu = next((m for m in bar.findChildren(QMenu) if m.title() == MENU_TITLE), None)
    if menu is None:
        menu = QMenu(MENU_TITLE, bar)
        menu.setObjectName("modelsMenu")
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        bar.insertMenu(help_menu, menu) if help_menu is not None else bar.addMenu(menu)  # Help stays last
    action = QAction(ACTION_TEXT, window)
    action.setObjectName(ACTION_NAME)
    action.setStatusTip("Download the authors' SRN ResNet-50 (WIDER FACE), verify it and add it to the project")
    action.triggered.connect(lambda: open_fetch_dialog(window, source=source, dest=dest, drive_download=drive_download))
    menu.addAction(action)
    return menu
