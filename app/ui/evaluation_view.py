"""The Evaluation view: score model versions on labelled images and see where they go wrong.

Pick a model version, a labelled set (the project's held-out ``val`` images, or a label file with
its image folder) and raw or enhanced input, then Run: an ``EvaluateJob`` (its own thread)
detects, scores AP@0.5 and stores the evaluation. Stored evaluations are listed with check boxes;
the checked ones are drawn as PR curves. The experiment table (base raw / base enhanced /
fine-tuned enhanced, held-out set) fills itself from the store, and "Compute missing" runs the
evaluations it lacks (none yet, or scored on another held-out set or with other enhancement
settings than the current ones). The error browser lists the false positives and missed faces of
the current evaluation; activating one emits ``open_location(image_id, box)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.jobs.evaluate_job import EvaluateJob, LabelSet
from app.store import ModelVersionData, model_versions
from app.store.evaluations import EvaluationData, evaluations
from app.store.experiment_table import experiment_table
from app.store.labelled_sets import HELDOUT, dataset_title
from app.store.project import Project
from app.ui.error_browser import ErrorBrowser
from app.ui.panel_helpers import show_progress, window_enhancement
from app.ui.pr_plot import draw_curves, format_ap, new_pr_plot, show_plot_window

INPUTS = (("raw", "Raw images"), ("enhanced", "Enhanced images (MSRCR)"))
CHOOSE_LABELS = "Labelled set from file…"
_CHOOSE = "choose"
TABLE_COLUMNS = ("Setting", "Model", "AP@0.5", "Images", "Faces")


def ask_for_label_set(parent: QWidget) -> LabelSet | None:
    """The dialogs behind "Labelled set from file…": a WIDER FACE ground-truth file (or, when
    cancelled, a DARK FACE label folder), then the image folder (tests replace ``choose_labels``)."""
    labels, _ = QFileDialog.getOpenFileName(parent, "WIDER FACE ground truth (cancel to pick a DARK FACE label "
                                            "folder)", "", "Text files (*.txt);;All files (*)")
    if not labels:
        labels = QFileDialog.getExistingDirectory(parent, "DARK FACE label folder")
    if not labels:
        return None
    images = QFileDialog.getExistingDirectory(parent, "Image folder of these labels")
    return LabelSet(Path(labels), Path(images)) if images else None


def evaluation_title(e: EvaluationData, models: dict[int, ModelVersionData]) -> str:
    model = models.get(e.model_version_id)
    name = model.name if model is not None else f"model {e.model_version_id}"
    return (f"{name} — {dataset_title(e.dataset)}, {'enhanced' if e.enhanced else 'raw'}: "
            f"AP {format_ap(e.ap)} ({e.n_images} images, {e.n_faces} faces)")


def _missing_of(rows) -> list[tuple[int, bool]]:
    """``(model id, enhanced)`` of the experiment-table rows that have a model but no current evaluation."""
    return [(row.model_version_id, row.enhanced) for row in rows if row.missing and row.model is not None]


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
        self._evaluations: dict[int, EvaluationData] = {}
        self._checked: set[int] = set()
        self._missing: list[tuple[int, bool]] = []
        """``missing_cells()`` as of the last table refresh (what "Compute missing" is enabled by)."""
        self._label_sets: list[LabelSet] = []
        self._dataset_index = 0
        self.choose_labels: Callable[[QWidget], LabelSet | None] = ask_for_label_set
        self.enhance_params: Callable[[], object] | None = None
        """Returns the enhancement to evaluate with; MSRCR defaults when unset or ``None``."""
        self.device: str | None = None
        self.inference = None

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("evalModel")
        self.dataset_combo = QComboBox()
        self.dataset_combo.setObjectName("evalDataset")
        self.input_combo = QComboBox()
        self.input_combo.setObjectName("evalInput")
        for key, text in INPUTS:
            self.input_combo.addItem(text, key)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("evalRun")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("evalCancel")
        self.redetect_button = QPushButton("Re-detect unreviewed with this model")
        self.redetect_button.setObjectName("evalRedetect")
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("evalProgress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.log = QPlainTextEdit()
        self.log.setObjectName("evalLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5_000)

        self.evaluation_list = QListWidget()
        self.evaluation_list.setObjectName("evalList")
        self.plot = new_pr_plot("evalPlot")
        self.curves: dict[int, pg.PlotDataItem] = {}
        """The plotted PR curve of each checked evaluation, by evaluation id."""

        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setObjectName("evalTable")
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.compute_button = QPushButton("Compute missing")
        self.compute_button.setObjectName("evalComputeMissing")
        self.error_browser = ErrorBrowser()
        self.errors, self.errors_label = self.error_browser.tree, self.error_browser.label

        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Labelled set", self.dataset_combo)
        form.addRow("Input", self.input_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.redetect_button)
        # One column, as narrow as the side dock: choices, then the results as tabs, so the PR
        # plot gets the dock's whole width (at 1280×720 too) instead of a third of it.
        self.bigger_button = QPushButton("Bigger plot…")
        self.bigger_button.setObjectName("evalBiggerPlot")
        self.bigger_button.setToolTip("The checked PR curves in a window of their own")
        self.bigger_button.clicked.connect(self.show_plot_window)
        curves = QSplitter(Qt.Orientation.Vertical)
        curves.addWidget(self.evaluation_list)
        curves.addWidget(self.plot)
        curves.setStretchFactor(1, 3)
        self.plot.setMinimumHeight(220)
        curves_page = QWidget()
        curves_layout = QVBoxLayout(curves_page)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(curves, 1)
        curves_layout.addWidget(self.bigger_button, 0, Qt.AlignmentFlag.AlignRight)
        table_page = QWidget()
        table_layout = QVBoxLayout(table_page)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(QLabel("Experiment (held-out set)"))
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.compute_button)
        self.results = QTabWidget()
        self.results.setObjectName("evalResults")
        self.results.addTab(curves_page, "PR curves")
        self.results.addTab(table_page, "Experiment")
        self.results.addTab(self.error_browser, "Errors")
        self.results.addTab(self.log, "Log")
        self.redetect_button.setText("Re-detect unreviewed")
        self.redetect_button.setToolTip("Re-detect the unreviewed images with the chosen model")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.results, 1)

        self.model_combo.currentIndexChanged.connect(lambda _: self._update_buttons())
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.redetect_button.clicked.connect(self._on_redetect)
        self.compute_button.clicked.connect(self.compute_missing)
        self.evaluation_list.itemChanged.connect(self._on_item_changed)
        self.evaluation_list.currentItemChanged.connect(lambda *_: self._show_errors())
        self.error_browser.open_location.connect(self.open_location)
        self._fill_datasets()
        self.refresh_models()

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
        self._checked = set()
        self.refresh_models()

    def project(self) -> Project | None:
        return self._project

    def show_plot_window(self) -> QDialog:
        """The checked PR curves, larger, in a window of their own (the dock's plot stays)."""
        return show_plot_window(self, self._checked_evaluations(), self._models)

    def _checked_evaluations(self) -> list:
        return [self._evaluations[i] for i in sorted(self._checked)]

    def refresh_models(self) -> None:
        """Refill the model picker, then the evaluations and the experiment table."""
        keep = self.selected_model_id()
        self._models = {m.id: m for m in model_versions(self._project)} if self._project is not None else {}
        with QSignalBlocker(self.model_combo):
            self.model_combo.clear()
            for m in self._models.values():  # every model names its scores; archived ones are not offered
                if not m.archived:
                    self.model_combo.addItem(m.name, m.id)
            index = self.model_combo.findData(keep) if keep is not None else -1
            self.model_combo.setCurrentIndex(index if index >= 0 else self.model_combo.count() - 1)
        self.refresh()

    def refresh(self) -> None:
        """Reload the stored evaluations (list, curves, errors) and the experiment table."""
        self._refresh_evaluations()
        self._refresh_table()
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
        data = self.model_combo.currentData()
        return data if isinstance(data, int) else None

    def _fill_datasets(self, select=None) -> None:
        with QSignalBlocker(self.dataset_combo):
            self.dataset_combo.clear()
            self.dataset_combo.addItem("Held-out set (val split, reviewed)", HELDOUT)
            for i, ls in enumerate(self._label_sets):
                self.dataset_combo.addItem(f"{ls.labels.name} ({ls.images})", f"set:{i}")
            self.dataset_combo.addItem(CHOOSE_LABELS, _CHOOSE)
            index = self.dataset_combo.findData(f"set:{self._label_sets.index(select)}") if select is not None else 0
            self.dataset_combo.setCurrentIndex(max(index, 0))
        self._dataset_index = self.dataset_combo.currentIndex()

    def selected_dataset(self) -> str | LabelSet:
        data = self.dataset_combo.currentData()
        if isinstance(data, str) and data.startswith("set:"):
            return self._label_sets[int(data[4:])]
        return HELDOUT

    def add_label_set(self, label_set: LabelSet) -> None:
        """Offer a labelled set in the picker and select it."""
        if label_set not in self._label_sets:
            self._label_sets.append(label_set)
        self._fill_datasets(select=label_set)

    def _on_dataset_changed(self, index: int) -> None:
        if self.dataset_combo.itemData(index) != _CHOOSE:
            self._dataset_index = index
            return
        chosen = self.choose_labels(self)
        if chosen is None:
            with QSignalBlocker(self.dataset_combo):
                self.dataset_combo.setCurrentIndex(self._dataset_index)
            return
        self.add_label_set(chosen)

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
        return self._start(model_id, self.selected_dataset(), self.input_combo.currentData() == "enhanced")

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
        return _missing_of(self._experiment_table())

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
        self._checked.add(evaluation_id)
        self.refresh()
        e = self._evaluations.get(evaluation_id)
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
    def _refresh_evaluations(self) -> None:
        current = self.current_evaluation_id()
        found = evaluations(self._project) if self._project is not None else []
        self._evaluations = {e.id: e for e in found}
        self._checked &= set(self._evaluations)
        with QSignalBlocker(self.evaluation_list):
            self.evaluation_list.clear()
            for e in reversed(found):  # newest first
                item = QListWidgetItem(evaluation_title(e, self._models))
                item.setData(Qt.ItemDataRole.UserRole, e.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if e.id in self._checked else Qt.CheckState.Unchecked)
                self.evaluation_list.addItem(item)
        self._redraw_curves()
        if current in self._evaluations:
            self.select_evaluation(current)
        else:
            self._show_errors()

    def _item(self, evaluation_id: int) -> QListWidgetItem | None:
        for row in range(self.evaluation_list.count()):
            item = self.evaluation_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == evaluation_id:
                return item
        return None

    def set_checked(self, evaluation_id: int, checked: bool) -> None:
        """Show or hide an evaluation's PR curve."""
        item = self._item(evaluation_id)
        if item is not None:
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def select_evaluation(self, evaluation_id: int) -> None:
        """Make an evaluation current: its errors fill the error browser."""
        item = self._item(evaluation_id)
        if item is not None:
            self.evaluation_list.setCurrentItem(item)
        self._show_errors()

    def current_evaluation_id(self) -> int | None:
        item = self.evaluation_list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        evaluation_id = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self._checked.add(evaluation_id)
        else:
            self._checked.discard(evaluation_id)
        self._redraw_curves()

    def _redraw_curves(self) -> None:
        self.curves = draw_curves(self.plot, self._checked_evaluations(), self._models)

    def _show_errors(self) -> None:
        self.error_browser.show_evaluation(self._evaluations.get(self.current_evaluation_id()))

    # -- the experiment table ------------------------------------------------------------------
    def _refresh_table(self) -> None:
        rows = self._experiment_table()
        self._missing = _missing_of(rows)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            e = row.evaluation
            cells = (row.label, row.model.name if row.model is not None else "—",
                     "missing" if e is None else format_ap(e.ap),
                     "" if e is None else str(e.n_images), "" if e is None else str(e.n_faces))
            tip = row.reason
            if row.stale is not None:
                tip += f" (was AP {format_ap(row.stale.ap)}; Compute missing scores it again)"
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if e is None and tip:
                    item.setToolTip(tip)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    # -- helpers -------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        running = self._job is not None
        has_model = self._project is not None and self.selected_model_id() is not None
        for widget in (self.model_combo, self.dataset_combo, self.input_combo):
            widget.setEnabled(not running and self._project is not None)
        self.run_button.setEnabled(has_model and not running)
        self.redetect_button.setEnabled(has_model)
        self.compute_button.setEnabled(self._project is not None and not running and bool(self._missing))
        self.cancel_button.setEnabled(running)

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")

    def _problem(self, text: str) -> None:
        self._log(text)
        self.problem.emit(text)
