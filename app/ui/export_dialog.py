"""File → Export…: write the reviewed labels, or a detection run, as WIDER FACE, DARK FACE or COCO.

The dialog only gathers the choices the store's ``export`` takes (format, review statuses,
split, run, destination) and shows what will happen (how many images) and what happened (the
report, or the error naming the file). The export itself is an ``ExportJob`` in its own thread,
so the review window stays usable while it runs; Cancel stops it with nothing written.

Replacing an existing file is asked first (then the store is told ``force``), through a
window-modal ``QMessageBox`` (``overwrite_question()``) that does not block the event loop;
what the store refuses whatever the answer (the project's own database, a folder where a file
goes) is refused before asking.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSignalBlocker, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.jobs.export_job import ExportJob, ExportRequest
from app.store import (
    EXPORT_FORMATS,
    FOLDER_FORMATS,
    PROJECT_DIR,
    REVIEW_STATUSES,
    ExportReport,
    Project,
    StoreError,
    check_destination,
    detection_runs,
    export_count,
    export_splits,
)
from srn.formats.registry import get_format

_HINTS = {"wider": "(wider_face_*_bbx_gt.txt)", "darkface": "(one .txt per image)", "coco": "JSON",
          "voc": "(one .xml per image)", "yolo": "(one .txt per image, normalised)",
          "wider-predictions": "of a detection run (folder of .txt)"}
FORMATS = {name: f"{get_format(name).title} {_HINTS.get(name, '')}".strip() for name in EXPORT_FORMATS}
"""The store's export formats (``srn.formats.registry``), in the order the dialog offers them."""
PREDICTIONS = "wider-predictions"

STATUS_TIP = ("Which images to export, by review status. “Done” means reviewed: its accepted boxes are "
              "ground truth, and a done image without boxes is written with zero faces. Images of the "
              "other statuses may still have faces nobody has drawn or checked.")
MAX_WARNINGS = 5
"""Warnings of a report shown under its summary (the rest are counted)."""


def default_folder(project: Project) -> Path:
    """Where exports go by default: the folder of a folder project (not its ``.darkface-studio``,
    which the store refuses), the folder of a project file, the home folder for a database server."""
    db = project.path
    if db is None:
        return Path(os.path.expanduser("~"))
    folder = db.resolve().parent
    return folder.parent if folder.name == PROJECT_DIR else folder


def default_name(fmt: str, split: str | None = None, run_id: int | None = None) -> str:
    """A file or folder name that says what an export holds (``wider_face_val_bbx_gt.txt``, ...)."""
    part = f"_{split}" if split else ""
    if fmt == "wider":
        return f"wider_face_{split or 'all'}_bbx_gt.txt"
    if fmt == "darkface":
        return f"darkface_labels{part}"
    if fmt == "coco":
        return f"coco_faces{part}.json"
    if fmt == PREDICTIONS:
        return f"predictions{f'_run{run_id}' if run_id is not None else ''}{part}"
    return f"{fmt}_labels{part}"


def run_title(run) -> str:
    """``Run 3 — demo model, enhanced — 2024-05-01 10:04 — 120 images``: the picker's text."""
    model = run.model_name or "no model"
    when = run.created_at  # aware (UTC): the store's times always are
    images = f"{run.image_count} image{'' if run.image_count == 1 else 's'}"
    return (f"Run {run.id} — {model}{', enhanced' if run.enhanced else ''} — "
            f"{when.astimezone():%Y-%m-%d %H:%M} — {images}")


class ExportDialog(QDialog):
    """Format, statuses, split, run and destination; Export, Cancel, Open folder, Close.

    Not modal by default (``show()`` it; ``exec()`` works too). The window keeps the project
    open while an export runs and calls ``stop()`` before it closes or switches projects
    (``set_project`` does it too). ``exported(ExportReport)`` fires after a successful export;
    ``export_ended()`` after every export, however it ended.
    """

    exported = Signal(object)
    export_ended = Signal()

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export")
        self._project = project
        self._job: ExportJob | None = None
        self._report: ExportReport | None = None
        self._count: int | None = None
        self._question: QMessageBox | None = None
        self._auto_destination = True  # follows the choices until the user picks a destination

        self.format_combo = QComboBox()
        self.format_combo.setObjectName("exportFormat")
        for fmt, title in FORMATS.items():
            self.format_combo.addItem(title, fmt)
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("exportRun")
        self.run_combo.setToolTip("The detection run whose boxes (proposed or accepted, with their scores) "
                                  "are written; only for the predictions format")
        self.status_checks: dict[str, QCheckBox] = {}
        statuses = QHBoxLayout()
        for status in REVIEW_STATUSES:
            check = QCheckBox(status.replace("_", " "))
            check.setObjectName(f"exportStatus_{status}")
            check.setChecked(status == "done")
            check.setToolTip(STATUS_TIP)
            self.status_checks[status] = check
            statuses.addWidget(check)
        statuses.addStretch(1)
        self.split_combo = QComboBox()
        self.split_combo.setObjectName("exportSplit")
        self.dest_edit = QLineEdit()
        self.dest_edit.setObjectName("exportDestination")
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setObjectName("exportChoose")
        dest = QHBoxLayout()
        dest.addWidget(self.dest_edit, 1)
        dest.addWidget(self.choose_button)
        self.count_label = QLabel()
        self.count_label.setObjectName("exportCount")

        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("Detection run:", self.run_combo)
        status_label = QLabel("Review status:")
        status_label.setToolTip(STATUS_TIP)
        form.addRow(status_label, statuses)
        form.addRow("Split:", self.split_combo)
        form.addRow("Destination:", dest)
        form.addRow("", self.count_label)

        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("exportProgress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.message_label = QLabel()
        self.message_label.setObjectName("exportMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)

        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportStart")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("exportCancel")
        self.open_button = QPushButton("Open folder")
        self.open_button.setObjectName("exportOpenFolder")
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("exportClose")
        self.close_button.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message_label)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.resize(640, self.sizeHint().height())

        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.run_combo.currentIndexChanged.connect(self._choices_changed)
        self.split_combo.currentIndexChanged.connect(self._choices_changed)
        for check in self.status_checks.values():
            check.toggled.connect(self._choices_changed)
        self.dest_edit.textEdited.connect(self._destination_edited)
        self.dest_edit.textChanged.connect(lambda _: self._update_buttons())
        self.choose_button.clicked.connect(self._choose)
        self.export_button.clicked.connect(lambda: self.export())
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(lambda: self.open_folder())
        self.close_button.clicked.connect(self.close)
        self.refresh()

    # -- choices -------------------------------------------------------------------------------

    @property
    def project(self) -> Project:
        return self._project

    def set_project(self, project: Project) -> None:
        """Export from ``project`` from now on (an export of the previous one is stopped first)."""
        self.stop()
        self._project = project
        self._report = None
        self._auto_destination = True
        self.message_label.clear()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the runs, splits and count from the store (e.g. after a detection run),
        keeping the current choices where they still exist."""
        run_id, split = self.selected_run(), self.selected_split()
        try:
            runs, splits = detection_runs(self._project), export_splits(self._project)
        except StoreError as exc:  # the database went away (a network drive, a deleted file)
            runs, splits = [], []
            self._say(str(exc), error=True)
        with QSignalBlocker(self.run_combo):
            self.run_combo.clear()
            for run in runs:
                self.run_combo.addItem(run_title(run), run.id)
            if not runs:
                self.run_combo.addItem("No detection run in this project", None)
            index = self.run_combo.findData(run_id) if run_id is not None else -1
            self.run_combo.setCurrentIndex(max(index, 0))
        with QSignalBlocker(self.split_combo):
            self.split_combo.clear()
            self.split_combo.addItem("All images", None)
            for name in splits:
                self.split_combo.addItem(name, name)
            index = self.split_combo.findData(split) if split is not None else -1
            self.split_combo.setCurrentIndex(max(index, 0))
        self.split_combo.setToolTip("" if self.split_combo.count() > 1 else "No image of this project has a split")
        self._choices_changed()

    def selected_format(self) -> str:
        return self.format_combo.currentData()

    def set_format(self, fmt: str) -> None:
        index = self.format_combo.findData(fmt)
        if index < 0:
            raise ValueError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.format_combo.setCurrentIndex(index)

    def selected_run(self) -> int | None:
        """The chosen detection run's id (``None``: the project has none)."""
        return self.run_combo.currentData() if self.run_combo.count() else None

    def selected_statuses(self) -> tuple[str, ...]:
        return tuple(s for s, check in self.status_checks.items() if check.isChecked())

    def selected_split(self) -> str | None:
        """The chosen split, ``None`` for all images."""
        return self.split_combo.currentData() if self.split_combo.count() else None

    def destination(self) -> Path | None:
        """The destination as typed; a relative path is taken in the project's folder."""
        text = self.dest_edit.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() else default_folder(self._project) / path

    def set_destination(self, path: str | os.PathLike[str]) -> None:
        """Export to ``path`` (it no longer follows the choices)."""
        self._auto_destination = False
        self.dest_edit.setText(str(path))

    def default_destination(self) -> Path:
        run_id = self.selected_run() if self.selected_format() == PREDICTIONS else None
        return default_folder(self._project) / default_name(self.selected_format(), self.selected_split(), run_id)

    def image_count(self) -> int | None:
        """How many images an export with the current choices writes (``None``: it cannot run)."""
        return self._count

    def _destination_edited(self, _text: str) -> None:
        self._auto_destination = False

    def _format_changed(self, *_args) -> None:
        if not self._auto_destination:
            self._keep_destination_kind()
        self._choices_changed()

    def _choices_changed(self, *_args) -> None:
        if self._auto_destination:
            self.dest_edit.setText(str(self.default_destination()))
        self._update_count()
        self._update_buttons()

    def _keep_destination_kind(self) -> None:
        """A file name typed for a file format is no folder for a folder format (and the other
        way round): on such a switch the destination takes the new default name, in the same folder."""
        path = self.destination()
        if path is None:
            return
        wants_file = self.selected_format() not in FOLDER_FORMATS
        looks_like_file = path.suffix.lower() in (".txt", ".json")
        if wants_file != looks_like_file or (wants_file and path.suffix.lower() != self._suffix()):
            name = self.default_destination().name
            self.dest_edit.setText(str(path.parent / name))

    def _suffix(self) -> str:
        return get_format(self.selected_format()).suffix or ".txt"

    def _update_count(self) -> None:
        fmt, statuses = self.selected_format(), self.selected_statuses()
        self._count = None
        if not statuses:
            self.count_label.setText("Choose at least one review status.")
            return
        if fmt == PREDICTIONS and self.selected_run() is None:
            self.count_label.setText("This project has no detection run to export; run Detect faces first.")
            return
        try:
            n = export_count(self._project, fmt, statuses=statuses, split=self.selected_split(),
                             run_id=self.selected_run() if fmt == PREDICTIONS else None)
        except StoreError as exc:
            self.count_label.setText(str(exc))
            return
        if n == 0:  # an empty ground-truth file helps nobody: say what would fill it
            self.count_label.setText("No image has the chosen status" + (" in this split" if self.selected_split()
                                     else "") + " yet: mark reviewed images done (Space), or tick other statuses.")
            return
        self._count = n
        images = f"{n} image{'' if n == 1 else 's'}"
        where = " (of those the run covered)" if fmt == PREDICTIONS else ""
        self.count_label.setText(f"{images}{where} will be exported.")

    def _choose(self) -> None:
        current = self.destination() or self.default_destination()
        if self.selected_format() in FOLDER_FORMATS:
            start = current if current.is_dir() else current.parent
            chosen = QFileDialog.getExistingDirectory(self, "Export to folder", str(start))
        else:
            kind = "JSON files (*.json)" if self._suffix() == ".json" else "Text files (*.txt)"
            # the overwrite question is ours (it sets ``force``), not the file dialog's
            chosen, _ = QFileDialog.getSaveFileName(self, "Export to file", str(current), f"{kind};;All files (*)",
                                                    options=QFileDialog.Option.DontConfirmOverwrite)
        if chosen:
            self.set_destination(chosen)

    # -- running -------------------------------------------------------------------------------

    def export(self) -> ExportJob | None:
        """Start an export with the current choices; returns the job, or ``None`` when it did not
        start now: a choice is missing, the destination is refused (the message says why), or the
        question whether to replace an existing file is waiting for its answer."""
        if self.is_running() or self._question is not None:
            return None
        fmt, out = self.selected_format(), self.destination()
        if self._count is None:
            self._say(self.count_label.text(), error=True)
            return None
        if out is None:
            self._say("Choose where to export to.", error=True)
            return None
        try:
            check_destination(self._project, out, fmt)
        except StoreError as exc:
            self._say(f"Cannot export: {exc}", error=True)
            return None
        question = self._overwrite_text(fmt, out)
        if question is None:
            return self._start(out, force=False)
        self._ask(question, out)
        return None

    def overwrite_question(self) -> QMessageBox | None:
        """The pending "Replace …?" question, if any (press its Yes or Cancel button)."""
        return self._question

    def _overwrite_text(self, fmt: str, out: Path) -> str | None:
        if fmt not in FOLDER_FORMATS:
            if out.is_file():
                return f"{out} already exists.\n\nReplace it with this export?"
            return None
        if out.is_dir():
            existing = sum(1 for _ in out.rglob("*.txt"))
            if existing:
                return (f"{out} already holds {existing} .txt file{'' if existing == 1 else 's'}.\n\n"
                        "Replace those of the exported images? (The export refuses a folder that holds "
                        "other .txt files, so no stale file is mixed in.)")
        return None

    def _ask(self, text: str, out: Path) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Replace?", text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("exportOverwrite")
        box.button(QMessageBox.StandardButton.Yes).setText("Replace")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._answered(box, out))
        self._question = box
        self._update_buttons()
        box.open()

    def _answered(self, box: QMessageBox, out: Path) -> None:
        yes = box.clickedButton() is box.button(QMessageBox.StandardButton.Yes)
        self._question = None
        box.deleteLater()
        if yes:
            self._start(out, force=True)
        else:
            self._say("Nothing was exported.")
            self._update_buttons()

    def _start(self, out: Path, *, force: bool) -> ExportJob:
        fmt = self.selected_format()
        request = ExportRequest(out, fmt, self.selected_statuses(), self.selected_split(),
                                self.selected_run() if fmt == PREDICTIONS else None, force)
        job = ExportJob(self._project, request, parent=QCoreApplication.instance())
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.cancelled.connect(self._on_cancelled)
        job.failed.connect(self._on_failed)
        self._job = job
        self.progress_bar.setRange(0, 0)  # busy until the first image is counted
        self.progress_bar.setFormat("Reading the project…")
        self._say(f"Exporting to {out}…")
        job.start()
        self._update_buttons()
        return job

    def cancel(self) -> None:
        """Stop the running export at its next image; nothing is written."""
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling…")

    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the export's thread (before the window closes or changes project);
        False if it did not end in time."""
        if self._question is not None:
            self._question.reject()
        job = self._job
        if job is None:
            return True
        if not job.stop(timeout_ms):
            return False
        # Its last signal is queued for this thread: deliver it now, so the dialog has ended the
        # export (and said how) before it closes or moves on.
        QCoreApplication.sendPostedEvents(job)
        return True

    def is_running(self) -> bool:
        return self._job is not None

    def job(self) -> ExportJob | None:
        return self._job

    @property
    def report(self) -> ExportReport | None:
        """The last successful export's report."""
        return self._report

    def folder_url(self) -> QUrl | None:
        """The folder the last export wrote into (the folder itself for a folder format)."""
        if self._report is None:
            return None
        out = Path(self._report.out)
        return QUrl.fromLocalFile(str(out if self._report.format in FOLDER_FORMATS else out.parent))

    def open_folder(self) -> bool:
        """Show the last export's folder in the file manager."""
        url = self.folder_url()
        return url is not None and QDesktopServices.openUrl(url)

    # -- job signals ---------------------------------------------------------------------------

    def _on_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done if total else 1)
        self.progress_bar.setFormat(f"{done}/{total} images (%p %)")

    def _on_finished(self, report: ExportReport) -> None:
        self._report = report
        lines = [report.summary()]
        lines += report.warnings[:MAX_WARNINGS]
        if len(report.warnings) > MAX_WARNINGS:
            lines.append(f"… and {len(report.warnings) - MAX_WARNINGS} more warnings")
        self._end_job(f"{report.images}/{report.images} images", done=report.images)
        self._say("\n".join(lines))
        self.exported.emit(report)
        self.export_ended.emit()

    def _on_cancelled(self) -> None:
        self._end_job("Cancelled")
        self._say("Export cancelled; nothing was written.")
        self.export_ended.emit()

    def _on_failed(self, message: str) -> None:
        self._end_job("Failed")
        self._say(f"Export failed: {message}", error=True)
        self.export_ended.emit()

    def _end_job(self, bar_text: str, *, done: int | None = None) -> None:
        """Forget the ended job; the bar shows ``done`` images as all of them (``None``: none done)."""
        job, self._job = self._job, None
        if job is not None:
            job.wait(5_000)  # the thread quits right after its last signal
            job.deleteLater()
        self.progress_bar.setRange(0, max(done or 0, 1))
        self.progress_bar.setValue(self.progress_bar.maximum() if done is not None else 0)
        self.progress_bar.setFormat(bar_text)
        self._choices_changed()

    # -- helpers -------------------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message_label.setStyleSheet("color: #c62828;" if error else "")
        self.message_label.setText(text)

    def _update_buttons(self) -> None:
        running, asking = self.is_running(), self._question is not None
        idle = not running and not asking
        for widget in (self.format_combo, self.split_combo, self.dest_edit, self.choose_button,
                       *self.status_checks.values()):
            widget.setEnabled(idle)
        self.run_combo.setEnabled(idle and self.selected_format() == PREDICTIONS and self.selected_run() is not None)
        self.export_button.setEnabled(idle and self._count is not None and bool(self.dest_edit.text().strip()))
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(self._report is not None)
        if self._report is not None:
            self.open_button.setToolTip(self.folder_url().toLocalFile())

    def showEvent(self, event: QShowEvent) -> None:
        if not self.is_running():
            self.refresh()  # runs or splits may have changed since it was last shown
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        super().closeEvent(event)

    def reject(self) -> None:
        """Escape: cancel a running export first, then close."""
        if self.is_running():
            self.cancel()
            return
        super().reject()


__all__ = ["FORMATS", "ExportDialog", "default_folder", "default_name", "run_title"]
