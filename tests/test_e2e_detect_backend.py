"""Detect in the real window runs on OpenVINO by ``auto`` (issue 17): the Detect tab says which
backend and precision ran and why, and the stored boxes are the torch model's."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.store import boxes_of, review_queue
from srn.data.synth import make_sample
from srn.engine.detector import Detector
from srn.engine.shipped_models import DEMO_MODEL_NAME, demo_model_path
from srn.eval.synthetic import NIGHT_SET
from srn.imageio import read_image, write_image

pytest.importorskip("openvino")


@pytest.mark.slow
def test_detect_tab_runs_auto_on_openvino_and_says_what_ran(qtbot, review_window, tmp_path, monkeypatch):
    monkeypatch.setenv("DARKFACE_BACKEND", "auto")
    monkeypatch.setenv("DARKFACE_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "night"
    for i in range(2):
        write_image(folder / f"{i + 1}.png", np.ascontiguousarray(make_sample(31, i, NIGHT_SET).day[:288, :384]))
    window = review_window
    assert window.open_folder(folder)
    tab_bar = window.tabs.tabBar()
    detect_tab = next(i for i in range(window.tabs.count()) if window.tabs.tabText(i) == "Detect")
    QTest.mouseClick(tab_bar, Qt.MouseButton.LeftButton, pos=tab_bar.tabRect(detect_tab).center())
    panel = window.detect_panel
    assert window.tabs.currentWidget() is panel
    panel.model_combo.setCurrentIndex(panel.model_combo.findText(DEMO_MODEL_NAME))
    panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("all"))
    with qtbot.waitSignal(panel.run_finished, timeout=180_000):
        QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)

    label, log = panel.device_label.text(), panel.log.toPlainText()
    assert "· openvino" in label, label
    assert "checking which precision keeps the boxes" in log
    precision = label.rsplit(" ", 1)[-1]
    assert f"openvino {precision}: " in log  # the reason, e.g. "fp32: bf16 needs a CPU that ..."
    assert list((tmp_path / "data" / "compiled" / "openvino").rglob("auto-*.json"))

    torch_detector = Detector.from_checkpoint(demo_model_path(), device="cpu")
    for item in review_queue(window.project, "path"):
        stored = boxes_of(window.project, item.image_id)
        want = torch_detector.detect(read_image(folder / item.rel_path))[0]
        assert len(stored) == len(want.scores) > 0
        if precision == "fp32":
            top = max(b.score for b in stored)
            assert abs(top - float(want.scores[0])) < 1e-4
