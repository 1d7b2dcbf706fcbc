"""The enhancement side panel: method, one slider per parameter that matters, presets.

The sliders are generated from the parameters' own metadata (``MethodParams.offered_specs``),
so the panel knows no method by name and shows only what changes the picture in the current
output mode (MSRCR's gain and offset appear only in ``canonical`` mode, the clip sliders only in
``balance``). The parameters object, not the slider positions, is the source of truth: a slider
has a finite number of positions, and a preset with σ = 17.3 must come back as 17.3.

Two signals: ``params_changed`` on every move (feed the live preview) and ``params_committed``
when the user stops — slider released, or 250 ms after the last change from the keyboard or
wheel (start the full-resolution render, save settings).
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.store.errors import StoreError
from app.store.presets import delete_preset, load_preset, preset_names, save_preset
from srn.enhance import METHODS, MSRCRParams, get_method
from srn.enhance.params import MethodParams, ParamError, ParamSpec

COMMIT_DELAY_MS = 250
STEPS = 1000
"""Positions of a float slider (log or linear); an int slider has one position per value."""
AUTO_MODE = "auto"
PRESET_PLACEHOLDER = "Presets…"


def _nice(value: float, spec: ParamSpec) -> float:
    """``value`` to 4 significant digits, kept inside the spec's range (clean JSON, stable keys)."""
    value = float(f"{value:.4g}")
    return min(max(value, spec.minimum), spec.maximum)


def format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


class ParamSlider(QWidget):
    """One number of one ``ParamSpec``: a slider (log-spaced when the spec says so) and its value.

    ``value()`` is the exact number last set or chosen, not a re-derived slider position.
    """

    moved = Signal(float)
    released = Signal()

    def __init__(self, spec: ParamSpec, value: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if spec.minimum is None or spec.maximum is None:
            raise ValueError(f"{spec.name}: a slider needs the spec's minimum and maximum")
        self.spec = spec
        self.is_int = spec.kind == "int" and not spec.log_scale
        self.slider = QSlider(Qt.Orientation.Horizontal)
        if self.is_int:
            self.slider.setRange(int(spec.minimum), int(spec.maximum))
        else:
            self.slider.setRange(0, STEPS)
        self.slider.setToolTip(spec.help)
        self.label = QLabel()
        self.label.setMinimumWidth(48)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self._value = float(value)
        self.set_value(value)
        self.slider.valueChanged.connect(self._on_position)
        self.slider.sliderReleased.connect(self.released)

    def value_at(self, position: int) -> float:
        """The parameter value at a slider position; the ends are exactly the spec's min and max."""
        spec = self.spec
        if self.is_int:
            return float(position)
        lo, hi = float(spec.minimum), float(spec.maximum)
        if position <= 0:
            return lo
        if position >= STEPS:
            return hi
        t = position / STEPS
        value = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo))) if spec.log_scale else lo + t * (hi - lo)
        return float(round(value)) if spec.kind == "int" else _nice(value, spec)

    def position_of(self, value: float) -> int:
        spec = self.spec
        if self.is_int:
            return int(round(value))
        lo, hi = float(spec.minimum), float(spec.maximum)
        value = min(max(float(value), lo), hi)
        t = (math.log(value / lo) / math.log(hi / lo)) if spec.log_scale else (value - lo) / (hi - lo)
        return int(round(t * STEPS))

    def value(self) -> float:
        return self._value

    def set_value(self, value: float) -> None:
        """Show ``value`` without emitting ``moved``."""
        self._value = float(value)
        blocked = self.slider.blockSignals(True)
        self.slider.setValue(self.position_of(value))
        self.slider.blockSignals(blocked)
        self.label.setText(format_value(self._value))

    def _on_position(self, position: int) -> None:
        self._value = self.value_at(position)
        self.label.setText(format_value(self._value))
        self.moved.emit(self._value)


class EnhancePanel(QWidget):
    """Method selector, generated parameter sliders, automatic-clipping toggle, presets, reset.

    Signals: ``params_changed(MethodParams)`` live, ``params_committed(MethodParams)`` when the
    user stops (at most once per distinct value), ``message(str)`` for the status bar.
    """

    params_changed = Signal(object)
    params_committed = Signal(object)
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None, params: MethodParams | None = None) -> None:
        super().__init__(parent)
        self._params = params or MSRCRParams()
        self._remembered: dict[str, MethodParams] = {self._params.method: self._params}
        self._last_committed = self._params
        self._manual_mode: dict[str, str] = {}
        self._project = None
        self._controls: dict[str, QWidget] = {}
        self._structure: tuple | None = None
        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(COMMIT_DELAY_MS)
        self._commit_timer.timeout.connect(self._commit)

        self.method_combo = QComboBox()
        for method in METHODS.values():
            self.method_combo.addItem(method.label, method.name)
        self.method_combo.activated.connect(self._on_method)
        self.auto_check = QCheckBox("Automatic clipping")
        self.auto_check.setToolTip("Clip points chosen from the image itself (Petro & Sbert) "
                                   "instead of fixed percentages")
        self.auto_check.toggled.connect(self._on_auto)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.clicked.connect(self.reset)
        self.preset_combo = QComboBox()
        self.preset_combo.activated.connect(self._on_preset_chosen)
        self.save_button = QPushButton("Save…")
        self.save_button.clicked.connect(self._ask_save)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._ask_delete)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self._form_host = QWidget()

        presets = QHBoxLayout()
        presets.addWidget(self.preset_combo, 1)
        presets.addWidget(self.save_button)
        presets.addWidget(self.delete_button)
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(self.method_combo)
        self._layout.addWidget(self.auto_check)
        self._layout.addWidget(self._form_host)
        self._layout.addWidget(self.reset_button)
        self._layout.addLayout(presets)
        self._layout.addWidget(self.status_label)
        self._layout.addStretch(1)
        self._show(self._params)
        self.set_project(None)

    # -- public API -----------------------------------------------------------------------------

    def params(self) -> MethodParams:
        return self._params

    def set_params(self, params: MethodParams) -> None:
        """Show ``params`` (e.g. the project's default) without emitting any signal."""
        self._commit_timer.stop()
        self._params = self._last_committed = params
        self._remember(params)
        self._show(params)

    def reset(self) -> None:
        """The current method's default parameters."""
        self._apply(type(self._params)(), commit_now=True)

    def control(self, key: str) -> QWidget:
        """The widget of one parameter: ``"low_clip"``, ``"output"``, ``"sigmas[0]"``, ...

        A ``ParamSlider`` for numbers, a ``QComboBox`` for choices; ``KeyError`` if not offered.
        """
        return self._controls[key]

    def control_keys(self) -> list[str]:
        return list(self._controls)

    def set_project(self, project) -> None:
        """Use ``project`` (an ``app.store.Project``, or ``None``) for presets."""
        self._project = project
        for widget in (self.preset_combo, self.save_button, self.delete_button):
            widget.setEnabled(project is not None)
        self.refresh_presets()

    def refresh_presets(self, select: str | None = None) -> None:
        """Re-read the preset names from the project; keep ``select`` (or the current one) chosen."""
        current = select if select is not None else self.current_preset()
        self.preset_combo.clear()
        self.preset_combo.addItem(PRESET_PLACEHOLDER, None)
        if self._project is None:
            return
        try:
            names = preset_names(self._project)
        except StoreError as exc:
            self._say(f"Cannot read presets: {exc}")
            return
        for name in names:
            self.preset_combo.addItem(name, name)
        index = self.preset_combo.findData(current) if current else -1
        self.preset_combo.setCurrentIndex(max(index, 0))

    def current_preset(self) -> str | None:
        return self.preset_combo.currentData()

    def save_preset_as(self, name: str) -> bool:
        """Store the current parameters as preset ``name`` (overwriting); False, with a message, on error."""
        if self._project is None:
            return False
        try:
            save_preset(self._project, name, self._params)
        except StoreError as exc:
            self._say(str(exc))
            return False
        self.refresh_presets(select=name.strip())
        self._say(f"Saved preset “{name.strip()}”")
        return True

    def load_preset_named(self, name: str) -> bool:
        """Apply preset ``name`` (emits changed and committed); False, with a message, on error."""
        if self._project is None:
            return False
        try:
            params = load_preset(self._project, name)
        except StoreError as exc:
            self._say(str(exc))
            return False
        self._apply(params, commit_now=True)
        self.refresh_presets(select=name)
        self._say(f"Preset “{name}”")
        return True

    def delete_preset_named(self, name: str) -> bool:
        if self._project is None:
            return False
        try:
            delete_preset(self._project, name)
        except StoreError as exc:
            self._say(str(exc))
            return False
        self.refresh_presets(select="")
        self._say(f"Deleted preset “{name}”")
        return True

    def status_text(self) -> str:
        return self.status_label.text()

    # -- building the controls ------------------------------------------------------------------

    def _structure_of(self, params: MethodParams) -> tuple:
        """What decides which widgets exist: method, mode, offered specs and tuple lengths."""
        specs = params.offered_specs()
        lengths = tuple(len(getattr(params, s.name)) if s.kind == "floats" else 0 for s in specs)
        return params.method, params.mode, tuple(s.name for s in specs), lengths

    def _auto_spec(self, params: MethodParams) -> ParamSpec | None:
        """The output-mode spec if it offers automatic clipping (MSR/MSRCR ``output="auto"``)."""
        if params.mode_field is None:
            return None
        spec = next((s for s in params.specs() if s.name == params.mode_field), None)
        return spec if spec is not None and spec.kind == "choice" and AUTO_MODE in spec.choices else None

    def _show(self, params: MethodParams) -> None:
        """Make the widgets show ``params``: rebuild when the set of controls changes, else update."""
        blocked = self.method_combo.blockSignals(True)
        self.method_combo.setCurrentIndex(self.method_combo.findData(params.method))
        self.method_combo.blockSignals(blocked)
        auto = self._auto_spec(params)
        self.auto_check.setVisible(auto is not None)
        blocked = self.auto_check.blockSignals(True)
        self.auto_check.setChecked(auto is not None and params.mode == AUTO_MODE)
        self.auto_check.blockSignals(blocked)
        structure = self._structure_of(params)
        if structure != self._structure:
            self._rebuild(params)
            self._structure = structure
            return
        for spec in params.offered_specs():
            value = getattr(params, spec.name)
            if spec.kind == "choice":
                combo = self._controls[spec.name]
                blocked = combo.blockSignals(True)
                combo.setCurrentIndex(combo.findText(value))
                combo.blockSignals(blocked)
            elif spec.kind == "floats":
                for i, v in enumerate(value):
                    self._controls[f"{spec.name}[{i}]"].set_value(v)
            else:
                self._controls[spec.name].set_value(value)

    def _rebuild(self, params: MethodParams) -> None:
        host = QWidget()
        form = QFormLayout(host)
        form.setContentsMargins(0, 0, 0, 0)
        self._controls = {}
        for spec in params.offered_specs():
            value = getattr(params, spec.name)
            if spec.kind == "choice":
                combo = QComboBox()
                combo.addItems(list(spec.choices))
                combo.setCurrentIndex(combo.findText(value))
                combo.setToolTip(spec.help)
                combo.activated.connect(lambda _i, s=spec, c=combo: self._on_choice(s, c.currentText()))
                self._controls[spec.name] = combo
                form.addRow(spec.label, combo)
            elif spec.kind == "floats":
                form.addRow(QLabel(spec.label))
                for i, v in enumerate(value):
                    self._add_slider(form, f"  {i + 1}", f"{spec.name}[{i}]", spec, v, i)
            else:
                self._add_slider(form, spec.label, spec.name, spec, value, None)
        self._layout.replaceWidget(self._form_host, host)
        self._form_host.hide()
        self._form_host.deleteLater()  # may be the sender of the signal being handled
        self._form_host = host

    def _add_slider(self, form: QFormLayout, label: str, key: str, spec: ParamSpec, value, index: int | None) -> None:
        slider = ParamSlider(spec, value)
        slider.moved.connect(lambda v, s=spec, i=index: self._on_slider(s, i, v))
        slider.released.connect(self._commit)
        self._controls[key] = slider
        form.addRow(label, slider)

    # -- user actions ---------------------------------------------------------------------------

    def _on_slider(self, spec: ParamSpec, index: int | None, value: float) -> None:
        if index is None:
            new = int(value) if spec.kind == "int" else value
        else:
            items = list(getattr(self._params, spec.name))
            items[index] = value
            new = tuple(items)
        self._apply(self._replaced(spec.name, new))

    def _replaced(self, name: str, value) -> MethodParams | None:
        """The current parameters with one change, or None (and a message) if that breaks a rule."""
        try:
            return self._params.replace(**{name: value})
        except ParamError as exc:
            self._say(str(exc))
            return None

    def _on_choice(self, spec: ParamSpec, text: str) -> None:
        if spec.name == self._params.mode_field and text != AUTO_MODE:
            self._manual_mode[self._params.method] = text
        self._apply(self._replaced(spec.name, text), commit_now=True)

    def _on_auto(self, checked: bool) -> None:
        spec = self._auto_spec(self._params)
        if spec is None:
            return
        if self._params.mode != AUTO_MODE:
            self._manual_mode[self._params.method] = self._params.mode
        fallback = next(c for c in spec.choices if c != AUTO_MODE)
        mode = AUTO_MODE if checked else self._manual_mode.get(self._params.method, fallback)
        self._apply(self._replaced(spec.name, mode), commit_now=True)

    def _on_method(self, index: int) -> None:
        name = self.method_combo.itemData(index)
        if name != self._params.method:
            self._apply(self._remembered.get(name) or get_method(name).params_type(), commit_now=True)

    def _apply(self, params: MethodParams | None, commit_now: bool = False) -> None:
        """Take ``params`` from a user action: show, emit ``params_changed``, schedule the commit."""
        if params is None:  # refused: put the widgets back where the parameters are
            self._show(self._params)
            return
        self._params = params
        self._remember(params)
        self._show(params)
        self.params_changed.emit(params)
        if commit_now:
            self._commit()
        else:
            self._commit_timer.start()  # restarts: fires 250 ms after the last change

    def _commit(self) -> None:
        self._commit_timer.stop()
        if self._params != self._last_committed:
            self._last_committed = self._params
            self.params_committed.emit(self._params)

    def _remember(self, params: MethodParams) -> None:
        self._remembered[params.method] = params

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.message.emit(text)

    # -- preset dialogs (thin: the work is in the methods above, which tests call) ----------------

    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:
            self.load_preset_named(name)

    def _ask_save(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:", text=self.current_preset() or "")
        if not ok or not name.strip():
            return
        if self.preset_combo.findData(name.strip()) >= 0:
            answer = QMessageBox.question(self, "Save preset", f"Replace the preset “{name.strip()}”?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.save_preset_as(name)

    def _ask_delete(self) -> None:
        name = self.current_preset()
        if not name:
            self._say("Choose a preset to delete first")
            return
        answer = QMessageBox.question(self, "Delete preset", f"Delete the preset “{name}” from this project?")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_preset_named(name)
