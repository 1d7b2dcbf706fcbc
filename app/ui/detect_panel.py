"""The "Detect faces" panel: choose a model and images, run the detector, watch it progress.

This is where users bring in the authors' ``SRN.pth``: "Load weights file…" registers any
checkpoint as a model version of the project. The run itself is a ``DetectJob`` (its own
thread); this panel only collects the choices, shows progress, the device and per-image errors,
and tells the window which images got new boxes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QCoreApplication, QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs.detect_job import NO_RUN, DetectJob
from app.store import ModelVersionData, Project, model_versions, review_queue
from app.ui.panel_helpers import (
    LOAD_ITEM,
    LOAD_WEIGHTS,
    add_model_items,
    ask_for_weights,
    show_progress,
    window_enhancement,
)

SCOPES = (
    ("current", "Current image"),
    ("selected", "Selected images"),
    ("unreviewed", "All unreviewed images"),
    ("all", "All images"),
)
MODES = (("single", "Single scale"), ("multiscale", "Multi-scale (slower, more small faces)"))
NO_DEVICE = "Device: chosen when the model loads"


class DetectPanel(QWidget):
    """Model picker, scope, enhancement and mode, Run/Cancel, progress with ETA, device and log.

    The window provides ``set_project``, ``set_scope_provider`` (ids of the current/selected
    images) and ``enhance_params`` (the enhancement chosen in the window), and calls ``stop()``
    when it closes. ``image_done(image_id)`` fires as each image's boxes are stored;
    ``run_finished(run_id)`` when a run ends with results (finished or cancelled).
    """

    image_done = Signal(int)
    run_finished = Signal(int)
    run_ended = Signal()
    """Every run's last word, however it ended (finished, cancelled, failed); after ``run_finished``."""
    problem = Signal(str)
    """Something the user must hear about (a failed run, a refused file, nothing to do): the
    window shows it above the views with a way to this panel's log."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._scope_provider: Callable[[str], list[int] | None] | None = None
        self._job: DetectJob | None = None
        self._models: dict[int, ModelVersionData] = {}
        self._model_index = -1  # last real model chosen, restored when loading a file is abandoned
        self._counts = {"done": 0, "failed": 0, "boxes": 0}
        self.choose_file: Callable[[QWidget], str | os.PathLike[str] | None] = ask_for_weights
        self.enhance_params: Callable[[], object] | None = None
        """Returns the window's current ``MethodParams``; MSRCR defaults when unset or ``None``."""
        self.device: str | None = None  # None: the best device here (CUDA, MPS, else CPU)
        self.inference = None  # InferenceConfig for the detector; None: the authors' thresholds

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("detectModel")
        self.scope_combo = QComboBox()
        self.scope_combo.setObjectName("detectScope")
        for key, text in SCOPES:
            self.scope_combo.addItem(text, key)
        self.scope_combo.setCurrentIndex(self.scope_combo.findData("unreviewed"))
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("detectMode")
        for key, text in MODES:
            self.mode_combo.addItem(text, key)
        self.enhance_check = QCheckBox("Enhance before detection")
        self.enhance_check.setObjectName("detectEnhance")
        self.include_done = QCheckBox("Also images marked done")
        self.include_done.setObjectName("detectIncludeDone")
        self.include_done.setToolTip("“All images” leaves done images alone unless this is on: their review "
                                     "is finished, and new proposals would need deciding again")
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("detectRun")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("detectCancel")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("detectProgress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p %")
        self.device_label = QLabel(NO_DEVICE)
        self.device_label.setObjectName("detectDevice")
        self.device_label.setWordWrap(True)
        self.log = QPlainTextEdit()
        self.log.setObjectName("detectLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(10_000)  # a run over many bad files must not grow without bound

        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Images", self.scope_combo)
        form.addRow("Mode", self.mode_combo)
        form.addRow(self.enhance_check)
        form.addRow(self.include_done)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.device_label)
        layout.addWidget(self.log, 1)

        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.run_button.clicked.connect(lambda: self.run())  # not ``clicked``'s checked argument
        self.cancel_button.clicked.connect(self.cancel)
        self.refresh_models()

    # -- wiring from the window ----------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show ``project``'s models; a run on the previous project is cancelled (its results stay)."""
        if self._job is not None and project is not self._project:
            self._job.cancel()
        self._project = project
        self.refresh_models()

    def project(self) -> Project | None:
        return self._project

    def set_scope_provider(self, provider: Callable[[str], list[int] | None] | None) -> None:
        """``provider(scope)`` gives the image ids of a scope ("current", "selected", ...); when it
        answers ``None`` (or is unset) "unreviewed" and "all" come from the store."""
        self._scope_provider = provider

    # -- models --------------------------------------------------------------------------------
    def refresh_models(self, select_id: int | None = None) -> None:
        """Refill the picker from the store, keeping (or moving to ``select_id``) the selection."""
        keep = select_id if select_id is not None else self.selected_model_id()
        self._models = {m.id: m for m in model_versions(self._project)} if self._project is not None else {}
        with QSignalBlocker(self.model_combo):
            self.model_combo.clear()
            add_model_items(self.model_combo, self._models.values())
            self.model_combo.addItem(LOAD_WEIGHTS, LOAD_ITEM)
            index = self.model_combo.findData(keep) if keep is not None else -1
            if index < 0 and self._models:
                index = self.model_combo.count() - 2  # the newest model
            self.model_combo.setCurrentIndex(index)
        self._model_index = index
        self._update_buttons()

    def selected_model_id(self) -> int | None:
        data = self.model_combo.currentData()
        return data if isinstance(data, int) else None

    def selected_model(self) -> ModelVersionData | None:
        model_id = self.selected_model_id()
        return self._models.get(model_id) if model_id is not None else None

    def _on_model_changed(self, index: int) -> None:
        if self.model_combo.itemData(index) == LOAD_ITEM:
            self.load_weights()
        else:
            self._model_index = index
            self._update_buttons()

    def load_weights(self) -> ModelVersionData | None:
        """Ask for a checkpoint file and register it as a model version once verified (or select
        it if known); a file that is not a detector checkpoint is refused with a dialog."""
        from app.ui.model_files import register_checkpoint

        chosen = self.choose_file(self) if self._project is not None else None
        version = register_checkpoint(self, self._project, chosen) if chosen else None
        if version is None:
            if chosen:
                self._log(f"Not added: {chosen} is not a detector checkpoint this app can use")
            with QSignalBlocker(self.model_combo):
                self.model_combo.setCurrentIndex(self._model_index)
            self._update_buttons()
            return None
        if version.id not in self._models:
            self._log(f"Registered model {version.name!r} from {version.checkpoint_path}")
        self.refresh_models(select_id=version.id)
        return version

    # -- running -------------------------------------------------------------------------------
    def scope(self) -> str:
        return self.scope_combo.currentData()

    def image_ids(self, scope: str | None = None) -> list[int]:
        """The ids a run on ``scope`` (default: the chosen one) would process, in order."""
        scope = scope or self.scope()
        ids = self._scope_provider(scope) if self._scope_provider is not None else None
        if ids is None and self._project is not None:
            if scope == "unreviewed":
                ids = [q.image_id for q in review_queue(self._project, "unreviewed", statuses=["new", "in_progress"])]
            elif scope == "all":
                statuses = None if self.include_done.isChecked() else ["new", "in_progress", "skipped"]
                ids = [q.image_id for q in review_queue(self._project, "path", statuses=statuses)]
        return list(ids or [])

    def _enhancement(self):
        return window_enhancement(self.enhance_params) if self.enhance_check.isChecked() else None

    def run(self, *, image_ids: list[int] | None = None) -> DetectJob | None:
        """Start detection with the current choices; returns the job, or None if it cannot start.

        ``image_ids``: the images to process, when the caller already has them (default: those of
        the chosen scope, ``image_ids()``).
        """
        if self._project is None or self.is_running():
            return None
        model = self.selected_model()
        if model is None:
            self._problem("Choose a model first (or load a weights file).")
            return None
        ids = self.image_ids() if image_ids is None else list(image_ids)
        if not ids:
            done = "" if self.scope() != "all" or self.include_done.isChecked() else \
                " (done images are left out unless “Also images marked done” is on)"
            self._problem(f"No images to process in “{self.scope_combo.currentText()}”{done}.")
            return None
        job = DetectJob(self._project, ids, model.checkpoint_path, model.id, self._enhancement(),
                        self.mode_combo.currentData(), self.device, inference=self.inference,
                        parent=QCoreApplication.instance())
        job.device_ready.connect(self._on_device)
        job.preparing.connect(self._log)
        job.progress.connect(self._on_progress)
        job.image_done.connect(self._on_image_done)
        job.image_failed.connect(self._on_image_failed)
        job.finished.connect(self._on_finished)
        job.cancelled.connect(self._on_cancelled)
        job.failed.connect(self._on_failed)
        self._job = job
        self._counts = {"done": 0, "failed": 0, "boxes": 0}
        self.progress_bar.setRange(0, 0)  # busy while the model loads
        self.progress_bar.setFormat("Loading the model…")
        self._log(f"Detecting faces in {len(ids)} image(s) with {model.name!r} "
                  f"({self.mode_combo.currentText().lower()}{', enhanced' if self.enhance_check.isChecked() else ''})")
        job.start()
        self._update_buttons()
        return job

    def cancel(self) -> None:
        """Stop after the image in progress."""
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self._log("Cancelling after the current image…")

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the run's thread (the window calls this when it closes)."""
        return self._job.stop(timeout_ms) if self._job is not None else True

    def is_running(self) -> bool:
        return self._job is not None

    def job(self) -> DetectJob | None:
        return self._job

    # -- job signals ---------------------------------------------------------------------------
    def _on_device(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def _on_progress(self, done: int, total: int, eta: float) -> None:
        show_progress(self.progress_bar, done, total, eta)

    def _on_image_done(self, image_id: int, boxes: int) -> None:
        self._counts["done"] += 1
        self._counts["boxes"] += boxes
        self.image_done.emit(image_id)

    def _on_image_failed(self, image_id: int, message: str) -> None:
        self._counts["failed"] += 1
        self._log(f"Image {image_id}: {message}")

    def _summary(self) -> str:
        c = self._counts
        return f"{c['done']} image(s), {c['boxes']} box(es)" + (f", {c['failed']} failed" if c["failed"] else "")

    def _on_finished(self, run_id: int) -> None:
        self._log(f"Run {run_id} finished: {self._summary()}.")
        if self._counts["failed"]:
            self.problem.emit(f"Detection run {run_id}: {self._counts['failed']} image(s) could not be read; "
                              "the Detect tab's log names them.")
        self._end_job()
        self.run_finished.emit(run_id)
        self.run_ended.emit()

    def _on_cancelled(self, run_id: int) -> None:
        self._log(f"Cancelled: {self._summary()} kept.")
        self._end_job()
        if run_id != NO_RUN:
            self.run_finished.emit(run_id)
        self.run_ended.emit()

    def _on_failed(self, message: str) -> None:
        self._problem(message)
        self._end_job()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Failed")
        self.run_ended.emit()

    def _end_job(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.wait(5_000)  # the thread is quitting right after its last signal
            job.deleteLater()
        if self.progress_bar.maximum() == 0:  # ended before any progress (cancelled while loading)
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setFormat("%p %")
        self._update_buttons()

    # -- helpers -------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        running = self._job is not None
        has_project = self._project is not None
        self.model_combo.setEnabled(has_project and not running)
        for widget in (self.scope_combo, self.mode_combo, self.enhance_check, self.include_done):
            widget.setEnabled(not running)
        self.run_button.setEnabled(has_project and not running and self.selected_model() is not None)
        self.cancel_button.setEnabled(running)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")

    def _problem(self, text: str) -> None:
        self._log(text)
        self.problem.emit(text)
