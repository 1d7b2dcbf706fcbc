"""A project reopens as it was left: its order, filters, min score, shown image — and per model.

Kept in the user's settings (``QSettings``) under ``projects/<sha1 of the location>/``, not in the
project: the same team database can be reviewed by several people, each with their own view.
One project's view never leaks into another's; a project seen for the first time starts from
the defaults. The min score is also kept per model version: a model whose scores run low gets
its own threshold back whenever its run is shown.
"""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QSettings

from app.ui.image_browser_panel import ImageBrowserPanel

DEFAULT_MIN_SCORE = 50
"""The min-score slider of a project opened for the first time (hundredths)."""
_FIELDS = ("order", "status", "detections", "text", "score_min", "score_max", "min_score", "image_id")


def _as_float(value, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class ProjectViewState:
    """The saved view of the project at ``location`` (a path or a database URL)."""

    def __init__(self, settings: QSettings, location: str) -> None:
        self._settings = settings
        self.key = "projects/" + hashlib.sha1(location.encode()).hexdigest()[:16]

    def save(self, panel: ImageBrowserPanel, min_score: int, image_id: int | None) -> None:
        values = {"order": panel.order_box.currentText(), "status": panel.status_filter.currentText(),
                  "detections": panel.detections_filter.currentText(), "text": panel.text_filter.text(),
                  "score_min": panel.score_min.value(), "score_max": panel.score_max.value(),
                  "min_score": min_score, "image_id": image_id}
        for name, value in values.items():
            self._settings.setValue(f"{self.key}/{name}", value if value is not None else "")

    def restore(self, panel: ImageBrowserPanel) -> tuple[int, int | None]:
        """Put the saved order and filters (or the defaults) on ``panel``; returns the saved
        min score (hundredths) and the image that was shown (``None``: none saved)."""
        saved = {name: self._settings.value(f"{self.key}/{name}") for name in _FIELDS}
        for combo, name in ((panel.order_box, "order"), (panel.status_filter, "status"),
                            (panel.detections_filter, "detections")):
            index = combo.findText(str(saved[name])) if saved[name] else -1
            combo.setCurrentIndex(max(index, 0))
        panel.text_filter.setText(str(saved["text"] or ""))
        panel.score_min.setValue(_as_float(saved["score_min"], 0.0))
        panel.score_max.setValue(_as_float(saved["score_max"], 1.0))
        image_id = str(saved["image_id"] or "")
        return int(_as_float(saved["min_score"], DEFAULT_MIN_SCORE)), int(image_id) if image_id.isdigit() else None

    def model_min_score(self, model_id: int) -> int | None:
        """The min score last set while model ``model_id``'s run was shown (``None``: never)."""
        saved = self._settings.value(f"{self.key}/model_min_score/{model_id}")
        return None if saved is None else int(_as_float(saved, DEFAULT_MIN_SCORE))

    def set_model_min_score(self, model_id: int, value: int) -> None:
        self._settings.setValue(f"{self.key}/model_min_score/{model_id}", value)


__all__ = ["DEFAULT_MIN_SCORE", "ProjectViewState"]
