"""The Training panel: start "Fine-tune on my labels…", watch the losses fall, cancel or resume.

The run itself is a ``TrainJob`` (a separate ``srn train`` process); this panel collects the
choices (``FineTuneDialog``), plots each loss term as the progress lines arrive, shows lr,
images/s and the time left, keeps a bounded tail of the log, and lists the project's past runs.
When a run registers a model, ``model_registered(model_version_id)`` tells the window to refresh
its model lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.jobs.detect_job import format_eta
from app.jobs.train_job import (
    LAST,
    TrainJob,
    TrainJobError,
    describe_error,
    fail_orphaned_runs,
    progress_records,
    run_folder,
)
from app.store import model_versions
from app.store.project import Project
from app.store.training import TrainingRunData, training_runs
from app.ui.finetune_dialog import FineTuneDialog

LOSS_TERMS = ("total", "cls1", "box1", "cls2", "box2")
COLOURS = {"total": (240, 240, 240), "cls1": (90, 160, 255), "box1": (120, 220, 120), "cls2": (255, 160, 40),
           "box2": (230, 90, 200)}
LOG_LINES = 2000
MAX_POINTS = 20_000
"""Points kept per curve; older ones are thinned (every other one dropped) beyond this."""


class TrainingPanel(QWidget):
    """Fine-tune button, loss curves, lr / images/s / ETA, log tail, Cancel, Resume, past runs.

    The window calls ``set_project``, sets ``enhance_params`` (returns the current enhancement
    as a dict, or ``None``) and calls ``stop()`` when it closes. ``runs_folder`` must be set for
    a project on a database server (where run folders go); ``env`` adds environment variables
    for the training process.
    """

    model_registered = Signal(int)
    run_ended = Signal(int, str)  # run id, status
    problem = Signal(str)
    """Something the user must hear about (a failed run, a refused file, nothing to do): the
    window shows it above the views with a way to this panel's log."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._project: Project | None = None
        self._job: TrainJob | None = None
        self._detached: list[TrainJob] = []
        """Running jobs of projects the panel no longer shows: they end on their own (each job
        records its run's end in its own project) or in ``stop()``."""
        self._points: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in LOSS_TERMS}
        self._runs: dict[int, TrainingRunData] = {}
        """The listed runs of the project, by id (``refresh_runs``)."""
        self.enhance_params: Callable[[], dict | None] | None = None
        self.runs_folder = None
        self.env: dict | None = None
        self.dialog_factory: Callable[..., FineTuneDialog] = FineTuneDialog

        self.fine_tune_button = QPushButton("Fine-tune on my labels…")
        self.fine_tune_button.setObjectName("trainStart")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("trainCancel")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("trainResume")
        self.status_label = QLabel("No training run")
        self.status_label.setObjectName("trainStatus")
        self.lr_label = QLabel("lr –")
        self.speed_label = QLabel("– images/s")
        self.eta_label = QLabel("")
        self.plot = pg.PlotWidget(background=(24, 24, 24))
        self.plot.setObjectName("trainPlot")
        self.plot.setMenuEnabled(False)
        self.plot.addLegend(offset=(-5, 5))
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLabel("left", "loss")
        self.plot.setMinimumHeight(160)
        self.curves = {k: self.plot.plot([], [], name=k, pen=pg.mkPen(COLOURS[k], width=2 if k == "total" else 1))
                       for k in LOSS_TERMS}
        self.log = QPlainTextEdit()
        self.log.setObjectName("trainLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.runs = QTreeWidget()
        self.runs.setObjectName("trainRuns")
        self.runs.setHeaderLabels(["Run", "Status", "Started", "Model made", "AP@0.5"])
        self.runs.headerItem().setToolTip(4, "AP@0.5 of the model made on the project's held-out images")
        self.runs.setRootIsDecorated(False)
        self.runs.header().setStretchLastSection(False)
        self.runs.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.runs.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

        buttons = QHBoxLayout()
        buttons.addWidget(self.fine_tune_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)
        stats = QHBoxLayout()
        for w in (self.lr_label, self.speed_label, self.eta_label):
            stats.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)
        layout.addWidget(self.plot, 2)
        layout.addLayout(stats)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.runs, 1)

        self.fine_tune_button.clicked.connect(self.open_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(lambda: self.resume())
        self.runs.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.runs.currentItemChanged.connect(lambda *_: self.show_run_curves(self.selected_run_id()))
        self._update_buttons()

    # -- wiring --------------------------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show ``project``'s runs. A run of the previous project keeps going (its process is
        independent; the job records its end in that project) but this panel stops showing it;
        ``stop()`` still stops it."""
        if self._job is not None and project is not self._project:
            job, self._job = self._job, None
            self._disconnect(job)
            if job.is_running():
                self._detached.append(job)
                job.finished.connect(self._on_detached_finished)
                job.failed.connect(self._on_detached_failed)
                job.cancelled.connect(self._on_detached_cancelled)
            else:
                job.deleteLater()
        self._project = project
        if project is not None:
            watched = {job.run_id for job in (self._job, *self._detached)
                       if job is not None and job.run_id is not None and job.project.url == project.url}
            for run_id in fail_orphaned_runs(project, keep=watched):
                self._log(f"Training run {run_id} was left running by an app that ended; marked failed")
        self.refresh_runs()

    def project(self) -> Project | None:
        return self._project

    def job(self) -> TrainJob | None:
        return self._job

    def detached_jobs(self) -> list[TrainJob]:
        """Runs of other projects still going (started here before the project changed)."""
        return list(self._detached)

    def is_running(self) -> bool:
        return self._job is not None and self._job.is_running()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Stop every run this panel started, shown or not, and wait for their processes (the
        window calls this when it closes): each is asked to stop gracefully (SIGTERM, so it
        writes a resumable ``last.pth``) at once, then waited for, ``timeout_ms`` in all."""
        jobs = [job for job in (self._job, *self._detached) if job is not None and job.is_running()]
        for job in jobs:
            if not job.cancel_requested:
                job.cancel()
        if self._job is not None and self._job in jobs:
            self.status_label.setText(f"Run {self._job.run_id}: stopping after this iteration…")
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for job in jobs:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            ok = job.stop(left) and ok  # already cancelled: waits, then kills what is still running
        return ok

    # -- starting ------------------------------------------------------------------------------
    def open_dialog(self) -> TrainJob | None:
        """Ask for the run's settings (``FineTuneDialog``) and start it."""
        if self._project is None or self.is_running():
            return None
        enhance = self.enhance_params() if self.enhance_params is not None else None
        dialog = self.dialog_factory(self._project, enhance, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return self.start(dialog.config())

    def start(self, settings: dict) -> TrainJob | None:
        """Start a run with ``FineTuneDialog.config()``-style settings; None when it cannot start."""
        if self._project is None or self.is_running():
            return None
        job = self._new_job(settings)
        self._clear()
        self._log("Preparing the training data…")
        try:
            run_id = job.start()
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the panel must not stay stuck
            self._start_failed(job, f"Cannot start training: {describe_error(exc)}")
            return None
        self.status_label.setText(f"Run {run_id}: training")
        self.refresh_runs(select_id=run_id)
        return job

    def resume(self, run_id: int | None = None, *, max_iters: int | None = None) -> TrainJob | None:
        """Continue a cancelled or failed run (default: the one selected in the list) from its last.pth."""
        if self._project is None or self.is_running():
            return None
        run_id = run_id if run_id is not None else self.selected_run_id()
        if run_id is None:
            return None
        job = self._new_job(None)
        self._clear()
        self._plot_records(progress_records(self._runs[run_id].log_path) if run_id in self._runs else [])
        try:  # the curve goes on from the iterations before the resume
            job.resume(run_id, max_iters=max_iters)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the panel must not stay stuck
            self._start_failed(job, f"Cannot resume run {run_id}: {describe_error(exc)}")
            return None
        self.status_label.setText(f"Run {run_id}: training (resumed)")
        self.refresh_runs(select_id=run_id)
        return job

    def cancel(self) -> None:
        """Stop the run after its current iteration, with a resumable checkpoint."""
        if self.is_running():
            self._job.cancel()
            self.status_label.setText(f"Run {self._job.run_id}: stopping after this iteration…")
            self.cancel_button.setEnabled(False)

    def _start_failed(self, job: TrainJob, message: str) -> None:
        self._problem(message)
        self._disconnect(job)
        if job.is_running():  # cannot happen today; never leave a process nobody watches
            job.stop(5_000)
        self._job = None
        job.deleteLater()
        try:
            self.refresh_runs()
        except Exception as exc:  # noqa: BLE001 - the store itself failed: still re-enable the buttons
            self._log(f"Cannot list the training runs: {describe_error(exc)}")
            self._update_buttons()

    def _new_job(self, settings: dict | None) -> TrainJob:
        job = TrainJob(self._project, settings, runs_folder=self.runs_folder, env=self.env,
                       parent=QCoreApplication.instance())
        for signal, slot in self._slots(job):
            signal.connect(slot)
        self._job = job
        self._update_buttons()
        return job

    def _slots(self, job: TrainJob) -> list:
        return [(job.progress, self._on_progress), (job.log_line, self._on_log_line),
                (job.finished, self._on_finished), (job.failed, self._on_failed),
                (job.cancelled, self._on_cancelled), (job.started, self._on_started)]

    def _disconnect(self, job: TrainJob) -> None:
        """Disconnect this panel's slots only (others' connections to the job stay)."""
        for signal, slot in self._slots(job):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def _on_started(self, _run_id: int) -> None:
        self._update_buttons()

    # -- runs of projects no longer shown -------------------------------------------------------
    def _on_detached_finished(self, run_id: int, model_id: int) -> None:
        self._forget_detached(run_id, f"finished (model version {model_id})")

    def _on_detached_failed(self, run_id: int, message: str) -> None:
        self._forget_detached(run_id, f"failed: {message}")

    def _on_detached_cancelled(self, run_id: int) -> None:
        self._forget_detached(run_id, "cancelled")

    def _forget_detached(self, run_id: int, how: str) -> None:
        job = self.sender()
        if not isinstance(job, TrainJob) or job not in self._detached:
            return
        self._detached.remove(job)
        self._log(f"Training run {run_id} of {job.project.path or job.project.url} {how}")
        job.deleteLater()

    # -- job signals ---------------------------------------------------------------------------
    def show_run_curves(self, run_id: int | None) -> int:
        """Draw a run's loss curves from its log (every iteration, across resumes); returns how
        many records were drawn. The running run's curves are live and left alone."""
        if self._job is not None or run_id is None or run_id not in self._runs:
            return 0
        self._clear()
        records = progress_records(self._runs[run_id].log_path)
        self._plot_records(records)
        return len(records)

    def _append(self, record: dict) -> list[str]:
        """Add a progress record's loss terms to the curves' points; returns the terms it had."""
        it = float(record.get("iter", 0))
        terms = [term for term in LOSS_TERMS if term in record]
        for term in terms:
            xs, ys = self._points[term]
            xs.append(it)
            ys.append(float(record[term]))
        return terms

    def _plot_records(self, records: list[dict]) -> None:
        for record in records:
            self._append(record)
        for term in LOSS_TERMS:
            xs, ys = self._points[term]
            step = max(1, len(xs) // MAX_POINTS + (len(xs) % MAX_POINTS > 0))
            if step > 1:
                self._points[term] = xs, ys = xs[::step], ys[::step]
            self.curves[term].setData(xs, ys)

    def _on_progress(self, record: dict) -> None:
        it = float(record.get("iter", 0))
        for term in self._append(record):
            xs, ys = self._points[term]
            if len(xs) > MAX_POINTS:
                del xs[::2], ys[::2]
            self.curves[term].setData(xs, ys)
        if "lr" in record:
            self.lr_label.setText(f"lr {record['lr']:.2e}")
        if "images_per_s" in record:
            self.speed_label.setText(f"{record['images_per_s']:.1f} images/s")
        if "eta_s" in record:
            left = format_eta(record["eta_s"])
            self.eta_label.setText(f"{left} left" if left else "")
        job = self._job
        total = job.config.get("max_iters") if job is not None else None
        self.status_label.setText(f"Run {job.run_id if job else '?'}: iteration {int(it)}"
                                  + (f" of {total}" if total else "")
                                  + (f", epoch {record['epoch']:.2f}" if "epoch" in record else ""))

    def _on_log_line(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _on_finished(self, run_id: int, model_id: int) -> None:
        self._log(f"Run {run_id} finished: model version {model_id} registered.")
        self.status_label.setText(f"Run {run_id}: finished (model version {model_id})")
        self._end(run_id, "finished")
        self.model_registered.emit(model_id)

    def _on_failed(self, run_id: int, message: str) -> None:
        self._problem(f"Training run {run_id} failed: {message}")
        self.status_label.setText(f"Run {run_id}: failed — {message}")
        self._end(run_id, "failed")

    def _on_cancelled(self, run_id: int) -> None:
        resumable = self._job is not None and self._job.resumable()
        self._log(f"Run {run_id} cancelled" + (" (Resume continues it)." if resumable else "."))
        self.status_label.setText(f"Run {run_id}: cancelled")
        self._end(run_id, "cancelled")

    def _end(self, run_id: int, status: str) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.deleteLater()
        self.eta_label.setText("")
        self.refresh_runs(select_id=run_id)
        self.run_ended.emit(run_id, status)

    # -- runs list -----------------------------------------------------------------------------
    def refresh_runs(self, select_id: int | None = None) -> None:
        keep = select_id if select_id is not None else self.selected_run_id()
        self.runs.clear()
        self._runs = {}
        if self._project is not None:
            names = {m.id: m.name for m in model_versions(self._project)}
            for run in training_runs(self._project):
                self._runs[run.id] = run
                ap = run.metrics.get("val_ap50")
                model = names.get(run.model_version_id, "") if run.model_version_id else ""
                item = QTreeWidgetItem([
                    str(run.id), run.status, _local(run.started_at), model,
                    f"{ap:.3f}" if isinstance(ap, (int, float)) else ""])
                item.setToolTip(3, model)
                item.setData(0, Qt.ItemDataRole.UserRole, run.id)
                error = run.metrics.get("error")
                if error:
                    item.setToolTip(1, str(error))
                self.runs.addTopLevelItem(item)
                if run.id == keep:
                    self.runs.setCurrentItem(item)
        self._update_buttons()

    def selected_run_id(self) -> int | None:
        item = self.runs.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def _resumable(self, run_id: int | None) -> bool:
        run = self._runs.get(run_id)
        if run is None or run.status not in ("cancelled", "failed") or self._project is None:
            return False
        folder = run.config.get("run_dir")
        try:
            folder = folder or run_folder(self._project, run.id, self.runs_folder)
        except TrainJobError:
            return False
        from pathlib import Path

        return (Path(folder) / LAST).is_file()

    # -- helpers -------------------------------------------------------------------------------
    def _clear(self) -> None:
        for term in LOSS_TERMS:
            self._points[term] = ([], [])
            self.curves[term].setData([], [])
        self.lr_label.setText("lr –")
        self.speed_label.setText("– images/s")
        self.eta_label.setText("")

    def _update_buttons(self) -> None:
        running = self._job is not None
        has = self._project is not None
        self.fine_tune_button.setEnabled(has and not running)
        self.cancel_button.setEnabled(self.is_running() and not (self._job and self._job.cancel_requested))
        self.resume_button.setEnabled(has and not running and self._resumable(self.selected_run_id()))

    def _log(self, text: str) -> None:
        self.log.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")

    def _problem(self, text: str) -> None:
        self._log(text)
        self.problem.emit(text)


def _local(when: datetime | None) -> str:
    """A stored time (aware UTC, as the store reads it back) in the user's local time."""
    return "" if when is None else when.astimezone().strftime("%m-%d %H:%M")


__all__ = ["LOSS_TERMS", "TrainingPanel"]
