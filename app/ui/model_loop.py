"""The semi-supervised loop inside the review window: fine-tune, evaluate, re-detect, compare.

``ModelLoop`` owns the Train and Evaluate panels and connects them to the rest of the window:
a newly trained model appears in every model picker; an error picked in the evaluation opens
its image zoomed on the box; "re-detect unreviewed with this model" runs the Detect panel's
job with that model, and every image it finishes gets the boxes the new model *changed*
highlighted (new boxes with a halo, vanished ones dashed), so reviewers look only at the news.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from PySide6.QtCore import QObject, QRectF

from app.store import Project
from app.store.compare import BoxChanges, compare_boxes, model_boxes_snapshot
from app.ui.evaluation_view import EvaluationView
from app.ui.training_panel import TrainingPanel

ZOOM_MARGIN = 4.0
"""An error opens zoomed so the box fills about a quarter of the view's width."""


def shared_runs_folder(project: Project):
    """Training runs of a project on a server (PostgreSQL URL) live in this machine's data folder."""
    from app.sample_project import data_dir

    digest = hashlib.sha256(str(project.url).encode()).hexdigest()[:16]
    return data_dir() / "runs" / digest


class ModelLoop(QObject):
    """Train + Evaluate panels wired to a ``ReviewWindow`` (see the module docstring)."""

    def __init__(self, window, log: Callable[[str], None]) -> None:
        super().__init__(window)
        self.window = window
        self._log = log
        self.training = TrainingPanel()
        self.evaluation = EvaluationView()
        self.training.enhance_params = lambda: window.enhance_panel.params().to_dict()
        self.evaluation.enhance_params = window.enhance_panel.params
        self.evaluation.enhancement_changed()
        # the input picker names the method; the experiment table's enhanced cells go stale
        window.enhance_panel.params_committed.connect(lambda _p: self.evaluation.enhancement_changed())
        self.training.model_registered.connect(self._on_model_registered)
        self.training.run_ended.connect(lambda run_id, status: log(f"Training run {run_id} {status}"))
        self.evaluation.open_location.connect(self.open_location)
        self.evaluation.redetect_requested.connect(self.redetect)
        window.detect_panel.image_done.connect(self._on_image_detected)
        window.detect_panel.run_finished.connect(self._on_run_finished)
        window.detect_panel.run_ended.connect(self._on_run_ended)  # failed or cancelled early too
        self._before: dict[int, list] | None = None  # model boxes before a re-detection
        self._changes: dict[int, BoxChanges] = {}

    def set_project(self, project: Project | None) -> None:
        self._before, self._changes = None, {}
        self.training.runs_folder = None if project is None or project.path else shared_runs_folder(project)
        self.training.set_project(project)
        self.evaluation.set_project(project)

    # -- models --------------------------------------------------------------------------
    def _on_model_registered(self, model_id: int) -> None:
        self.window.detect_panel.refresh_models()
        self.evaluation.refresh_models()
        self._log(f"New model version {model_id} registered; evaluate it in the Evaluate tab")

    def refresh_models(self) -> None:
        self.evaluation.refresh_models()

    # -- errors → image ------------------------------------------------------------------
    def open_location(self, image_id: int, box: tuple) -> None:
        """Show ``image_id`` with the view centred and zoomed on ``box`` (inclusive extents)."""
        window = self.window
        window.show_image_id(image_id)
        if window.current_image_id != image_id:
            return
        x1, y1, x2, y2 = box
        rect = QRectF(x1, y1, x2 - x1 + 1, y2 - y1 + 1)
        pad = max(rect.width(), rect.height()) * (ZOOM_MARGIN - 1) / 2
        window.views.show_region(rect.adjusted(-pad, -pad, pad, pad))

    # -- re-detect and compare -----------------------------------------------------------
    def redetect(self, model_id: int) -> bool:
        """Detect the unreviewed images with model ``model_id``; changes are highlighted as they come."""
        panel = self.window.detect_panel
        if panel.is_running() or panel.project() is None:
            self._log("A detection run is already going; re-detect when it ends")
            return False
        panel.refresh_models(select_id=model_id)
        if panel.selected_model_id() != model_id:
            self._log(f"Model version {model_id} is not in the project")
            return False
        panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("unreviewed"))
        ids = panel.image_ids("unreviewed")
        self._before = model_boxes_snapshot(panel.project(), ids)
        self._changes = {}
        self.window.show_panel(panel)
        if panel.run(image_ids=ids) is None:  # exactly the images of the snapshot
            self._before = None
            return False
        return True

    def _on_image_detected(self, image_id: int) -> None:
        if self._before is None or image_id not in self._before:
            return
        previous = self._before[image_id]
        runs = {b.detection_run_id for b in previous}
        now = model_boxes_snapshot(self.window.project, [image_id])[image_id]
        fresh = [b for b in now if b.detection_run_id not in runs]
        self._changes[image_id] = compare_boxes(fresh, previous)
        if image_id == self.window.current_image_id:
            self.apply_changes(image_id)

    def _on_run_finished(self, _run_id: int) -> None:
        if self._before is not None:
            changed = sum(1 for c in self._changes.values() if c.new or c.gone)
            self._log(f"Re-detection: {changed} of {len(self._changes)} images changed "
                      "(new boxes have a magenta halo; dashed magenta shows where boxes went)")

    def _on_run_ended(self) -> None:
        self._before = None  # later runs are ordinary detections, not compared

    def changes(self, image_id: int) -> BoxChanges | None:
        return self._changes.get(image_id)

    def apply_changes(self, image_id: int | None) -> None:
        """Show the current image's re-detection changes in the scene (or none)."""
        c = self._changes.get(image_id) if image_id is not None else None
        self.window.scene.set_changes(c.new if c else (), [b.xyxy for b in c.gone] if c else ())

    def stop(self) -> None:
        self.training.stop()
        self.evaluation.stop()

