"""The Evaluate tab: score model versions on labelled images and see where they go wrong.

Pick a model version, a labelled set (the project's held-out ``val`` images, or a label file with
its image folder) and raw or enhanced input, then Run: an ``EvaluateJob`` (its own thread)
detects, scores AP@0.5 and stores the evaluation. Stored evaluations are listed with check boxes;
the checked ones are drawn as PR curves. The experiment table (base raw / base enhanced /
fine-tuned enhanced / fine-tuned raw, held-out set) fills itself from the store, and "Compute missing" runs the
evaluations it lacks (none yet, or scored on another held-out set or with other enhancement
settings than the current ones). The error browser lists the false positives and missed faces of
the current evaluation; activating one emits ``open_location(image_id, box)``.

The view runs the jobs (one at a time; "Compute missing" queues them) and composes the parts,
each a module of its own: ``EvaluationPickers``, ``EvaluationCurves``, ``ExperimentTableView``
and ``ErrorBrowser``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.jobs.evaluate_job import EvaluateJob, LabelSet
from app.store import ModelVersionData, model_versions
from app.store.evaluations import evaluations
from app.store.experiment_table import experiment_table
from app.store.labelled_sets import HELDOUT, dataset_title
from app.store.project import Project
from app.ui.error_browser import ErrorBrowser
from app.ui.evaluation_curves import EvaluationCurves, evaluation_title
from app.ui.evaluation_pickers import EvaluationPickers
from app.ui.experiment_table_view import ExperimentTableView, missing_of
from app.ui.panel_helpers import show_progress, window_enhancement
from app.ui.view_overlays import method_short_name
from srn.enhance import METHODS, get_method


class EvaluationView(QWidget):
    """Pickers and Run, the stored evaluations and their PR curves, the experiment table and the
    error browser.

    The window calls ``set_project`` and ``refresh_models`` (after a model is registered or
    trained) and ``stop()`` when it closes; it connects ``open_location(image_id, (x1, y1, x2, y2))``
    (show the image zoomed on that box) and ``redetect_requested(model_version_id)`` (re-detect
    the unreviewed images with that model). ``evaluation_finished(evaluation_id)`` fires after a
    new evaluation is stored.
    """

    open_location = Signal(int, tuple)
    redetect_requested = Signal(int)
    evaluation_finished = Signal(int)
    problem = Signal(str)
    """Something the user must hear about (a failed run, a refused file, nothing to do): the
    window shows it above the views with a way to this panel's log."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._job: EvaluateJob | None = None
        self._detached: list[EvaluateJob] = []
        """Jobs of a project the view has left: cancelled, their end signals only clean them up."""
        self._queue: list[tuple[int, bool]] = []  # (model id, enhanced) still to compute for the table
        self._models: dict[int, ModelVersionData] = {}
        self.enhance_params: Callable[[], object] | None = None
        """Returns the enhancement to evaluate with; MSRCR defaults when unset or ``None``."""
        self.device: str | None = None
        self.inference = None

        self.pickers = EvaluationPickers()
        self.model_combo = self.pickers.model_combo
        self.dataset_combo = self.pickers.dataset_combo
        self.input_combo = self.pickers.input_combo
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("evalRun")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("evalCancel")
        self.redetect_button = QPushButton("Re-detect unreviewed")
        self.redetect_button.setObjectName("evalRedetect")
        self.redetect_button.setToolTip("Re-detect the unreviewed images with the chosen model")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("evalProgress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.log = QPlainTextEdit()
        self.log.setObjectName("evalLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5_000)
        self.curve_list = EvaluationCurves()
        self.evaluation_list, self.plot = self.curve_list.evaluation_list, self.curve_list.plot
        self.bigger_button = self.curve_list.bigger_button
        self.experiment = ExperimentTableView()
        self.table, self.compute_button = self.experiment.table, self.experiment.compute_button
        self.error_browser = ErrorBrowser()
        self.errors, self.errors_label = self.error_browser.tree, self.error_browser.label

        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.redetect_button)
        # One column, as narrow as the side dock: choices, then the results as tabs, so the PR
        # plot gets the dock's whole width (at 1280×720 too) instead of a third of it.
        self.results = QTabWidget()
        self.results.setObjectName("evalResults")
        self.results.addTab(self.curve_list, "PR curves")
        self.results.addTab(self.experiment, "Experiment")
        self.results.addTab(self.error_browser, "Errors")
        self.results.addTab(self.log, "Log")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pickers)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.results, 1)

        self.pickers.model_changed.connect(self._update_buttons)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.redetect_button.clicked.connect(self._on_redetect)
        self.compute_button.clicked.connect(self.compute_missing)
        self.curve_list.current_changed.connect(self.error_browser.show_evaluation)
        self.error_browser.open_location.connect(self.open_location)
        self.refresh_models()

    @property
    def curves(self) -> dict:
        """The plotted PR curve of each checked evaluation, by evaluation id."""
        return self.curve_list.curves

    @property
    def choose_labels(self) -> Callable[[QWidget], LabelSet | None]:
        """Asks for a label set behind "Labelled set from file…" (tests replace it)."""
        return self.pickers.choose_labels

    @choose_labels.setter
    def choose_labels(self, ask: Callable[[QWidget], LabelSet | None]) -> None:
        self.pickers.choose_labels = ask

    # -- wiring from the window ----------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show ``project``'s models and evaluations; a run on the previous project is cancelled.

        The cancelled job is not waited for (it stops after the image in progress): it is detached,
        and nothing it reports (progress, its stored evaluation if it was already storing) reaches
        this project's view.
        """
        if self._job is not None and project is not self._job.project:
            self._queue = []
            job, self._job = self._job, None
            job.cancel()
            self._detached.append(job)
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self._log("Cancelled the evaluation of the previous project.")
        self._project = project
        self.curve_list.uncheck_all()
        self.refresh_models()

    def project(self) -> Project | None:
        return self._project

    def show_plot_window(self) -> QDialog:
        """The checked PR curves, larger, in a window of their own (the dock's plot stays)."""
        return self.curve_list.show_plot_window()

    def refresh_models(self) -> None:
        """Refill the model picker, then the evaluations and the experiment table."""
        self._models = {m.id: m for m in model_versions(self._project)} if self._project is not None else {}
        self.pickers.set_models(self._models)
        self.refresh()

    def refresh(self) -> None:
        """Reload the stored evaluations (list, curves, errors) and the experiment table."""
        self.curve_list.show_evaluations(evaluations(self._project) if self._project is not None else [], self._models)
        self.enhancement_changed()

    def enhancement_changed(self) -> None:
        """The window's enhancement changed (or may have): name it on the input picker and
        re-check the experiment table, whose enhanced cells go stale with other settings."""
        params = self._enhancement(True)
        method = params.method if hasattr(params, "method") else dict(params).get("method", "")
        self.pickers.name_enhancement(method_short_name(get_method(method).label) if method in METHODS else method)
        self.experiment.show_rows(self._experiment_table())
        self._update_buttons()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for a running evaluation, and for those of projects the view left (the
        window calls this when it closes)."""
        self._queue = []
        ok = True
        for job in [*self._detached, self._job]:
            if job is not None:
                ok = job.stop(timeout_ms) and ok
        return ok

    # -- pickers -------------------------------------------------------------------------------
    def selected_model_id(self) -> int | None:
        return self.pickers.selected_model_id()

    def selected_dataset(self) -> str | LabelSet:
        return self.pickers.selected_dataset()

    def add_label_set(self, label_set: LabelSet) -> None:
        """Offer a labelled set in the picker and select it."""
        self.pickers.add_label_set(label_set)

    def _enhancement(self, enhanced: bool):
        return window_enhancement(self.enhance_params) if enhanced else None

    def enhance_settings(self) -> dict:
        """The enhancement settings an enhanced evaluation would store now (``to_dict()``): an
        enhanced cell of the experiment table scored with others is stale."""
        params = self._enhancement(True)
        return params.to_dict() if hasattr(params, "to_dict") else dict(params)

    def _experiment_table(self):
        return experiment_table(self._project, self.enhance_settings()) if self._project is not None else []

    # -- running -------------------------------------------------------------------------------
    def run(self) -> EvaluateJob | None:
        """Evaluate the chosen model on the chosen set and input; returns the job (or None)."""
        model_id = self.selected_model_id()
        if self._project is None or self.is_running():
            return None
        if model_id is None:
            self._problem("Choose a model version first (load one in the Detect panel).")
            return None
        return self._start(model_id, self.selected_dataset(), self.pickers.enhanced())

    def _start(self, model_id: int, dataset, enhanced: bool) -> EvaluateJob:
        job = EvaluateJob(self._project, model_id, dataset, self._enhancement(enhanced), self.device,
                          inference=self.inference, parent=QCoreApplication.instance())
        # Bound methods, not lambdas: they are disconnected when the view goes; each slot asks
        # ``_from_detached()`` whether the signal comes from a job of a project the view left.
        job.progress.connect(self._on_progress)
        job.image_failed.connect(self._on_image_failed)
        job.device_ready.connect(self._on_device_ready)
        job.preparing.connect(self._on_preparing)
        job.finished.connect(self._on_finished)
        job.cancelled.connect(self._on_cancelled)
        job.failed.connect(self._on_failed)
        self._job = job
        self.progress_bar.setRange(0, 0)
        name = self._models[model_id].name if model_id in self._models else f"model {model_id}"
        what = dataset_title(HELDOUT) if dataset == HELDOUT else str(dataset.labels)
        self._log(f"Evaluating {name!r} on {what}, {'enhanced' if enhanced else 'raw'} images…")
        job.start()
        self._update_buttons()
        return job

    def missing_cells(self) -> list[tuple[int, bool]]:
        """``(model id, enhanced)`` of the experiment cells that have a model but no current
        evaluation (none yet, or scored on another held-out set or with other enhancement settings);
        asks the store now, not the table as last shown."""
        return missing_of(self._experiment_table())

    def compute_missing(self) -> EvaluateJob | None:
        """Evaluate, one after the other, every missing cell of the experiment table."""
        if self._project is None or self.is_running():
            return None
        self._queue = self.missing_cells()
        if not self._queue:
            self._log("Every cell that has a model is already computed.")
            return None
        return self._next_in_queue()

    def _next_in_queue(self) -> EvaluateJob | None:
        if not self._queue:
            return None
        model_id, enhanced = self._queue.pop(0)
        return self._start(model_id, HELDOUT, enhanced)

    def cancel(self) -> None:
        """Stop after the image in progress; nothing of the running evaluation is stored."""
        self._queue = []
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self._log("Cancelling…")

    def is_running(self) -> bool:
        return self._job is not None

    def job(self) -> EvaluateJob | None:
        return self._job

    def _on_redetect(self) -> None:
        model_id = self.selected_model_id()
        if model_id is not None:
            self.redetect_requested.emit(model_id)

    # -- job signals ---------------------------------------------------------------------------
    def _from_detached(self) -> bool:
        """Whether the signal being handled comes from a job of a project the view has left; its
        end signals only clean it up (its project is no longer shown, and evaluation ids of two
        projects collide)."""
        sender = self.sender()
        return sender is not None and sender is not self._job and sender in self._detached

    def _end_detached(self) -> bool:
        """Clean up a detached job that ended; True when the signal was one (and is handled)."""
        if not self._from_detached():
            return False
        job = self.sender()
        self._detached.remove(job)
        job.wait(5_000)
        job.deleteLater()
        if job.project is self._project and self._project is not None:
            self.refresh()  # back on its project (A -> B -> A): list what it stored, select nothing
        return True

    def _on_image_failed(self, path: str, message: str) -> None:
        if not self._from_detached():
            self._log(f"Skipped {message}")

    def _on_preparing(self, text: str) -> None:
        if not self._from_detached():
            self._log(text)

    def _on_device_ready(self, name: str) -> None:
        if not self._from_detached():
            self._log(f"Model loaded on {name}")

    def _on_progress(self, done: int, total: int, eta: float) -> None:
        if not self._from_detached():
            show_progress(self.progress_bar, done, total, eta)

    def _on_finished(self, evaluation_id: int) -> None:
        if self._end_detached():
            return
        self._end_job()
        self.curve_list.check_when_listed(evaluation_id)
        self.refresh()
        e = self.curve_list.evaluation(evaluation_id)
        if e is not None:
            self._log(f"Stored: {evaluation_title(e, self._models)}")
            self.select_evaluation(evaluation_id)
        self.evaluation_finished.emit(evaluation_id)
        self._next_in_queue()

    def _on_cancelled(self) -> None:
        if self._end_detached():
            return
        self._log("Cancelled; nothing stored.")
        self._end_job()

    def _on_failed(self, message: str) -> None:
        if self._end_detached():
            return
        self._queue = []
        self._problem(message)
        self._end_job()

    def _end_job(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.wait(5_000)
            job.deleteLater()
        self.progress_bar.setRange(0, 1)
        self._update_buttons()

    # -- evaluations and curves ----------------------------------------------------------------
    def set_checked(self, evaluation_id: int, checked: bool) -> None:
        """Show or hide an evaluation's PR curve."""
        self.curve_list.set_checked(evaluation_id, checked)

    def select_evaluation(self, evaluation_id: int) -> None:
        """Make an evaluation current: its errors fill the error browser."""
        self.curve_list.select_evaluation(evaluation_id)

    def current_evaluation_id(self) -> int | None:
        return self.curve_list.current_evaluation_id()

    # -- helpers -------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        running = self._job is not None
        has_model = self._project is not None and self.selected_model_id() is not None
        self.pickers.set_choosable(not running and self._project is not None)
        self.run_button.setEnabled(has_model and not running)
        self.redetect_button.setEnabled(has_model)
        self.compute_button.setEnabled(self._project is not None and not running and bool(self.experiment.missing))
        self.cancel_button.setEnabled(running)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")

    def _problem(self, text: str) -> None:
        self._log(text)
        self.problem.emit(text)
