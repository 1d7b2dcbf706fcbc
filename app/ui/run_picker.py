"""Which detection run's proposals the views show: one run at a time, the latest by default.

A raw and an enhanced run (or two models) on one image draw two sets of boxes that look alike,
and nothing says which run a box came from. The picker lists the runs that left proposals on
the shown image; the choice is a rule ("latest run", "all runs") or one run, and it carries
over to the next image, so a reviewer comparing raw and enhanced flips once, not per image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

from app.store import BoxData, DetectionRunData, Project, detection_runs

LATEST = "latest"
ALL = "all"


class RunPicker(QComboBox):
    """``shown_run_changed(run id or None)`` when another run's proposals should be shown."""

    shown_run_changed = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("runPicker")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setToolTip("Whose proposals the views show: the latest detection run on this image, every run, "
                        "or one run (boxes someone decided on always show)")
        self._project: Project | None = None
        self._runs: dict[int, DetectionRunData] = {}
        self._choice: str | int = LATEST
        self._here: Counter = Counter()
        self._shown: int | None = None
        self.activated.connect(self._on_activated)

    def set_project(self, project: Project | None) -> None:
        self._project = project
        self._choice, self._here, self._shown = LATEST, Counter(), None
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Re-read the project's runs (a detection run just ended)."""
        self._runs = {r.id: r for r in detection_runs(self._project)} if self._project is not None else {}

    def run(self, run_id: int) -> DetectionRunData | None:
        return self._runs.get(run_id)

    def shown_run(self) -> int | None:
        """The run whose proposals are shown (``None``: every run's, or there are none)."""
        return self._shown

    def choose(self, choice: str | int) -> None:
        """``LATEST``, ``ALL`` or a run id (what picking an entry does)."""
        self._choice = choice
        self._rebuild()

    def show_boxes(self, boxes: Iterable[BoxData]) -> None:
        """The shown image's boxes: list the runs with proposals on it and pick the run to show."""
        self._here = Counter(b.detection_run_id for b in boxes
                             if b.detection_run_id is not None and b.state != "deleted")
        if any(run_id not in self._runs for run_id in self._here):
            self.refresh_runs()
        self._rebuild()

    def _rebuild(self) -> None:
        here = sorted(self._here, reverse=True)
        if isinstance(self._choice, int) and self._choice not in self._runs:
            self._choice = LATEST
        latest = here[0] if here else None
        shown = latest if self._choice == LATEST else None if self._choice == ALL else self._choice
        self.blockSignals(True)
        try:
            self.clear()
            self.addItem("Latest run" + (f": {self._title(latest)}" if latest is not None else " (no proposals)"),
                         LATEST)
            self.addItem(f"All runs ({len(here)} on this image)", ALL)
            listed = here + ([self._choice] if isinstance(self._choice, int) and self._choice not in here else [])
            for run_id in listed:
                self.addItem(self._title(run_id), run_id)
            self.setCurrentIndex(max(self.findData(self._choice), 0))
        finally:
            self.blockSignals(False)
        self.setEnabled(len(here) > 1 or isinstance(self._choice, int) or self._choice == ALL)
        if shown != self._shown:
            self._shown = shown
            self.shown_run_changed.emit(shown)

    def _title(self, run_id: int) -> str:
        run = self._runs.get(run_id)
        text = run.title() if run is not None else f"run {run_id}"
        return f"{text} ({self._here.get(run_id, 0)} here)"

    def _on_activated(self, index: int) -> None:
        self.choose(self.itemData(index))
