""""Fine-tune on my labels": the choices of one training run, with what they will cost.

The dialog shows how many labelled images will train and how many are held out (the held-out
set is fixed: see ``app.store.training``), and how long the run should take — from the speed
of earlier runs on this device when there are any, otherwise a rough guess, and it says which.
Length, batch and size start from a preset (``app.jobs.train_presets``): the quick one on a CPU,
so the first run ends in minutes, not hours. ``config()`` is the settings dict ``TrainJob`` takes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.jobs.train_estimate import device_choices, estimate_seconds
from app.jobs.train_job import DEFAULTS
from app.jobs.train_presets import PRESETS, default_preset
from app.store.detections import model_versions
from app.store.project import Project
from app.store.training import (
    TRAIN,
    VAL,
    held_out_in_review_count,
    split_counts,
    unreviewed_count,
)
from app.ui.panel_helpers import LOAD_ITEM, LOAD_WEIGHTS, add_model_items
from app.ui.panel_helpers import ask_for_weights as ask_for_detector_weights

CUSTOM = "custom"


def ask_for_weights(parent: QWidget) -> str | None:
    return ask_for_detector_weights(parent, "Base model weights")


class FineTuneDialog(QDialog):
    """Base model, data, pseudo-labels, enhancement, iterations, batch, size, device, estimate.

    ``enhance`` is the window's current enhancement as a parameters dict (``MethodParams.to_dict()``)
    or ``None``; training on enhanced images is offered only when there is one.
    """

    def __init__(self, project: Project, enhance: dict | None = None, parent: QWidget | None = None, *,
                 settings: dict | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on my labels")
        self.project = project
        self.enhance = dict(enhance) if enhance else None
        self.choose_file: Callable[[QWidget], str | os.PathLike[str] | None] = ask_for_weights
        start = {**DEFAULTS, **default_preset(DEFAULTS["device"]).settings(), **(settings or {})}
        self._lr = float(start["lr"])
        self._workers = int(start["workers"])
        self._models = {m.id: m for m in model_versions(project)}
        self._model_config_cache: dict[str, dict] = {}

        self.base_combo = QComboBox()
        self.base_combo.setObjectName("ftBase")
        self.data_label = QLabel()
        self.data_label.setObjectName("ftData")
        self.data_label.setWordWrap(True)
        self.pseudo_check = QCheckBox("Pseudo-labels from the stored detections on unreviewed images")
        self.pseudo_check.setObjectName("ftPseudo")
        self.pseudo_threshold = QDoubleSpinBox()
        self.pseudo_threshold.setRange(0.0, 1.0)
        self.pseudo_threshold.setSingleStep(0.05)
        self.pseudo_threshold.setValue(0.8)
        self.pseudo_threshold.setPrefix("score ≥ ")
        self.pseudo_weight = QDoubleSpinBox()
        self.pseudo_weight.setRange(0.0, 1.0)
        self.pseudo_weight.setSingleStep(0.1)
        self.pseudo_weight.setValue(0.5)
        self.pseudo_weight.setPrefix("weight ")
        self.enhance_check = QCheckBox()
        self.enhance_check.setObjectName("ftEnhance")
        self.iterations = QSpinBox()
        self.iterations.setObjectName("ftIterations")
        self.iterations.setRange(1, 1_000_000)
        self.iterations.setValue(int(start["iterations"]))
        self.length_unit = QComboBox()
        self.length_unit.setObjectName("ftLengthUnit")
        self.length_unit.addItem("iterations", "iterations")
        self.length_unit.addItem("epochs over the labelled training images", "epochs")
        self.length_hint = QLabel()
        self.batch = QSpinBox()
        self.batch.setObjectName("ftBatch")
        self.batch.setRange(1, 512)
        self.batch.setValue(int(start["batch_size"]))
        self.size = QSpinBox()
        self.size.setObjectName("ftSize")
        self.size.setRange(64, 4096)
        self.size.setSingleStep(32)
        self.size.setValue(int(start["size"]))
        self.size.setSuffix(" px")
        self.device = QComboBox()
        self.device.setObjectName("ftDevice")
        for value, label in device_choices():
            self.device.addItem(label, value)
        index = self.device.findData(start["device"])
        self.device.setCurrentIndex(max(index, 0))
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("ftPreset")
        for preset in PRESETS.values():
            self.preset_combo.addItem(preset.label, preset.key)
        self.preset_combo.addItem("Custom", CUSTOM)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(self._matching_preset()))
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("ftEstimate")
        self.estimate_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start training")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        pseudo_row = QHBoxLayout()
        pseudo_row.addWidget(self.pseudo_threshold)
        pseudo_row.addWidget(self.pseudo_weight)
        form = QFormLayout()
        form.addRow("Base model", self.base_combo)
        form.addRow("Images", self.data_label)
        form.addRow(self.pseudo_check)
        form.addRow("", pseudo_row)
        form.addRow(self.enhance_check)
        length = QHBoxLayout()
        length.addWidget(self.iterations)
        length.addWidget(self.length_unit)
        length.addWidget(self.length_hint, 1)
        form.addRow("Preset", self.preset_combo)
        form.addRow("Length", length)
        form.addRow("Batch size", self.batch)
        form.addRow("Image size", self.size)
        form.addRow("Device", self.device)
        form.addRow("Time", self.estimate_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

        if self.enhance:
            self.enhance_check.setText(f"Train on enhanced images ({self.enhance.get('method', '?')}, "
                                       "as in the window)")
            self.enhance_check.setChecked(True)
        else:
            self.enhance_check.setText("Train on enhanced images (no enhancement chosen in the window)")
            self.enhance_check.setEnabled(False)
        self._fill_models(start.get("base_model_id"))
        self._show_counts()
        self.base_combo.currentIndexChanged.connect(self._on_base_changed)
        self.pseudo_check.toggled.connect(self._update)
        for spin in (self.iterations, self.batch, self.size):
            spin.valueChanged.connect(self._update)
            spin.valueChanged.connect(self._show_matching_preset)
        self.length_unit.currentIndexChanged.connect(self._show_matching_preset)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_changed)
        self.device.currentIndexChanged.connect(self._update)
        self.length_unit.currentIndexChanged.connect(self._update)
        self._update()

    # -- presets -----------------------------------------------------------------------------
    def _matching_preset(self) -> str:
        """The preset whose length, batch and size the fields hold, else ``"custom"``."""
        if self.length_unit.currentData() != "iterations":
            return CUSTOM
        values = (self.iterations.value(), self.batch.value(), self.size.value(), self._lr)
        return next((p.key for p in PRESETS.values() if (p.iterations, p.batch_size, p.size, p.lr) == values), CUSTOM)

    def _show_matching_preset(self, *_) -> None:
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(self._matching_preset()))

    def _on_preset_changed(self, _index: int) -> None:
        preset = PRESETS.get(self.preset_combo.currentData())
        if preset is None:  # "Custom": keep the numbers as they are
            return
        self._lr, self._workers = preset.lr, preset.workers
        widgets = (self.length_unit, self.iterations, self.batch, self.size)
        blockers = [QSignalBlocker(w) for w in widgets]
        self.length_unit.setCurrentIndex(self.length_unit.findData("iterations"))
        self.iterations.setValue(preset.iterations)
        self.batch.setValue(preset.batch_size)
        self.size.setValue(preset.size)
        del blockers
        self._update()

    # -- base model --------------------------------------------------------------------------
    def _fill_models(self, select_id: int | None = None) -> None:
        with QSignalBlocker(self.base_combo):
            self.base_combo.clear()
            add_model_items(self.base_combo, self._models.values())
            self.base_combo.addItem(LOAD_WEIGHTS, LOAD_ITEM)
            index = self.base_combo.findData(select_id) if select_id is not None else -1
            if index < 0:
                index = self.base_combo.count() - 2  # the newest model
            self.base_combo.setCurrentIndex(index)
        self._base_index = index

    def _on_base_changed(self, index: int) -> None:
        if self.base_combo.itemData(index) == LOAD_ITEM:
            from app.ui.model_files import register_checkpoint

            chosen = self.choose_file(self)
            # registered (once verified): the new model's lineage then names its base
            version = register_checkpoint(self, self.project, chosen) if chosen else None
            if version is not None:
                self._models = {m.id: m for m in model_versions(self.project)}
                self._fill_models(version.id)
            else:
                with QSignalBlocker(self.base_combo):
                    self.base_combo.setCurrentIndex(self._base_index)
        self._base_index = self.base_combo.currentIndex()
        self._update()

    def base(self) -> tuple[str | None, int | None, str | None]:
        """``(checkpoint path, model version id or None, name)`` of the chosen base."""
        data = self.base_combo.currentData()
        if isinstance(data, int) and data in self._models:
            m = self._models[data]
            return m.checkpoint_path, m.id, m.name
        if isinstance(data, str) and data != LOAD_ITEM:
            return data, None, Path(data).stem
        return None, None, None

    def _model(self) -> dict:
        path, _, _ = self.base()
        if path is None:
            return {"backbone": "resnet50", "channels": 256}
        if path not in self._model_config_cache:
            from app.jobs.train_job import base_model_config

            try:
                self._model_config_cache[path] = base_model_config(path)
            except (ValueError, OSError):
                self._model_config_cache[path] = {"backbone": "resnet50", "channels": 256, "error": True}
        return self._model_config_cache[path]

    # -- counts and estimate -----------------------------------------------------------------
    def _show_counts(self) -> None:
        counts = split_counts(self.project)
        self._counts = counts
        self._held_out_in_review = in_review = held_out_in_review_count(self.project)
        train, val, new = counts.get(TRAIN, 0), counts.get(VAL, 0), counts.get(None, 0)
        other = sum(n for k, n in counts.items() if k not in (TRAIN, VAL, None))
        text = f"{train} labelled training images, {val} held out for evaluation (fixed"
        text += f"; {in_review} of them still in review, scored once done)" if in_review else ")"
        if new:
            text += f"; {new} newly labelled image(s) get a split when training starts (about 1 in 5 held out)"
        if other:
            text += f"; {other} in other splits (not used)"
        self._unreviewed = unreviewed_count(self.project)
        self.data_label.setText(text)
        self.pseudo_check.setText(f"Pseudo-labels on {self._unreviewed} unreviewed image(s), "
                                  "from their stored detections")

    def labelled_train_images(self) -> int:
        """Training images there will be (new labelled images counted as train, roughly)."""
        return self._counts.get(TRAIN, 0) + round(0.8 * self._counts.get(None, 0))

    def planned_iterations(self) -> int:
        """The run's length in iterations; in epochs, one epoch is every labelled training image once."""
        value = self.iterations.value()
        if self.length_unit.currentData() != "epochs":
            return value
        return max(1, math.ceil(value * max(self.labelled_train_images(), 1) / self.batch.value()))

    def scored_held_out_images(self) -> int:
        """Held-out images a run scores now (the finished ones)."""
        return self._counts.get(VAL, 0) - self._held_out_in_review

    def _update(self, *_) -> None:
        for w in (self.pseudo_threshold, self.pseudo_weight):
            w.setEnabled(self.pseudo_check.isChecked())
        model = self._model()
        try:
            epochs = self.length_unit.currentData() == "epochs"
            self.length_hint.setText(f"= {self.planned_iterations()} iterations" if epochs else "")
            est = estimate_seconds(self.project, iterations=self.planned_iterations(), batch_size=self.batch.value(),
                                   size=self.size.value(), device=self.device.currentData() or "auto",
                                   backbone=model["backbone"], channels=model["channels"],
                                   val_images=self.scored_held_out_images())
            self.estimate = est
            self.estimate_label.setText(f"Estimated time: {est.text}")
        except Exception as exc:  # noqa: BLE001 - an unusable device must not break the dialog
            self.estimate = None
            self.estimate_label.setText(f"No estimate: {exc}")
        path, _, _ = self.base()
        ok = path is not None and not model.get("error") and self.labelled_train_images() > 0
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        if path is not None and model.get("error"):
            self.estimate_label.setText(f"{path}: cannot read this checkpoint")
        elif self.labelled_train_images() == 0:
            self.estimate_label.setText("No labelled images yet: accept or draw faces, or mark images done, first.")

    # -- result ------------------------------------------------------------------------------
    def config(self) -> dict:
        """The settings ``TrainJob`` takes (see ``app.jobs.train_job.DEFAULTS``)."""
        path, model_id, name = self.base()
        pseudo = ({"threshold": round(self.pseudo_threshold.value(), 4), "weight": round(self.pseudo_weight.value(), 4)}
                  if self.pseudo_check.isChecked() else None)
        return {
            "base_checkpoint": path, "base_model_id": model_id, "base_name": name,
            "pseudo_labels": pseudo,
            "enhance": self.enhance if self.enhance and self.enhance_check.isChecked() else None,
            "iterations": self.planned_iterations(), "batch_size": self.batch.value(), "size": self.size.value(),
            "device": self.device.currentData() or "auto", "workers": self._workers, "lr": self._lr,
            "val_fraction": DEFAULTS["val_fraction"],
        }


__all__ = ["LOAD_WEIGHTS", "FineTuneDialog"]
