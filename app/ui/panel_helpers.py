"""What the job panels (Detect, Evaluate, Train and the fine-tune dialog) share: the model
picker's entries and its "Load weights file…" item, the weights file dialog, a job's progress on
a bar, and the enhancement a job uses. One place, so the pickers and bars behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QProgressBar, QWidget

from app.jobs.detect_job import format_eta
from app.store import ModelVersionData

LOAD_WEIGHTS = "Load weights file…"
LOAD_ITEM = "load"
"""Item data of a picker's "Load weights file…" entry."""
WEIGHTS_FILTER = "PyTorch weights (*.pth *.pt *.pth.tar *.ckpt);;All files (*)"


def ask_for_weights(parent: QWidget, title: str = "Load detector weights") -> str | None:
    """The file dialog behind "Load weights file…" (tests replace a panel's ``choose_file``)."""
    path, _ = QFileDialog.getOpenFileName(parent, title, "", WEIGHTS_FILTER)
    return path or None


def add_model_items(combo: QComboBox, models: Iterable[ModelVersionData]) -> None:
    """Append one entry per model version to a model picker: its name, its id as item data and
    its checkpoint path as tooltip."""
    for m in models:
        if m.archived:  # removed from the pickers; its runs and scores still name it
            continue
        combo.addItem(m.name, m.id)
        combo.setItemData(combo.count() - 1, m.checkpoint_path, Qt.ItemDataRole.ToolTipRole)


def show_progress(bar: QProgressBar, done: int, total: int, eta: float) -> None:
    """Show a job's ``progress(done, total, eta)`` on ``bar``: "done/total (n %)", and the time left."""
    bar.setRange(0, max(total, 1))
    bar.setValue(done if total else 1)
    left = format_eta(eta)
    bar.setFormat(f"{done}/{total} (%p %)" + (f" — {left} left" if left and done < total else ""))


def window_enhancement(enhance_params: Callable[[], object] | None):
    """The enhancement a panel's ``enhance_params`` gives (the window's choice), MSRCR defaults
    when it is unset or gives ``None``."""
    params = enhance_params() if enhance_params is not None else None
    if params is None:
        from srn.enhance import MSRCRParams

        params = MSRCRParams()
    return params
