"""Detect in the real window runs on OpenVINO by ``auto`` (issue 17): the Detect tab says which
backend and precision ran and why, and the stored boxes are what that backend gives, their
confident ones torch fp32's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from torchvision.ops import box_iou

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

    # The stored boxes are those of the backend and precision that ran (read back from the cache
    # the job wrote), and their confident boxes are torch fp32's.
    ran = Detector.from_checkpoint(demo_model_path(), device="cpu", backend="openvino", precision=precision,
                                   cache_dir=tmp_path / "data" / "compiled")
    assert ran.backend.from_cache
    torch_detector = Detector.from_checkpoint(demo_model_path(), device="cpu")
    for item in review_queue(window.project, "path"):
        stored = sorted(boxes_of(window.project, item.image_id), key=lambda b: -b.score)
        image = read_image(folder / item.rel_path)
        got = ran.detect(image)[0]
        assert len(stored) == len(got.scores) > 0
        assert abs(stored[0].score - float(got.scores.max())) < 1e-5
        want = torch_detector.detect(image)[0]
        confident = [b for b in stored if b.score > 0.3]
        assert confident
        for box in confident:
            twin = torch.tensor([[box.x1, box.y1, box.x2, box.y2]])
            iou = box_iou(twin, want.boxes.float())[0]
            assert bool(((iou >= 0.9) & ((want.scores - box.score).abs() <= 0.02)).any()), (precision, box)
