"""Models and export in the real window (issue 15, defect 11 and "export from the window"): a file
that is not a detector checkpoint is refused before it is registered; models get readable, unique,
editable names and can be removed (archived while something still names them); File → Export…
writes what the evaluation tools read. Driven by clicks and keys; checked in the store and on disk.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox

from app.store import boxes_of, image_summaries, model_versions, record_detections, register_model, set_review_status
from app.ui.model_files import REFUSAL_NAME
from app.ui.panel_helpers import LOAD_WEIGHTS
from app.ui.review_window import ReviewWindow
from srn.formats import wider
from srn.formats.records import from_wider
from tests.training_fixtures import tiny_checkpoint

W, H = 96, 72


def _folder(root: Path, names=("1.png", "2.png")) -> Path:
    folder = root / "image"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        assert cv2.imwrite(str(folder / name), np.full((H, W, 3), 40 + 5 * i, np.uint8))
    return folder


def _refusal(window) -> QMessageBox | None:
    return next((b for b in window.findChildren(QMessageBox) if b.objectName() == REFUSAL_NAME and b.isVisible()), None)


def _load_in_detect_panel(window, path) -> None:
    panel = window.detect_panel
    panel.choose_file = lambda parent: str(path)
    panel.model_combo.setCurrentIndex(panel.model_combo.findText(LOAD_WEIGHTS))


def test_a_text_file_named_pth_is_refused_and_never_registered(qtbot, review_window, tmp_path, qt_settings):
    window = review_window
    assert window.open_folder(_folder(tmp_path))
    before = [m.name for m in model_versions(window.project)]
    fake = tmp_path / "weights.pth"
    fake.write_text("these are not weights\n")
    _load_in_detect_panel(window, fake)
    box = _refusal(window)
    assert box is not None and "weights.pth" in box.text() and "not a PyTorch file" in box.informativeText()
    assert [m.name for m in model_versions(window.project)] == before
    assert window.detect_panel.model_combo.currentText() != LOAD_WEIGHTS
    box.accept()

    # tensors, but not an SRN: refused too, with what does not fit
    alien = tmp_path / "alien.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(3, 3)}}, alien)
    _load_in_detect_panel(window, alien)
    box = _refusal(window)
    assert box is not None and "does not fit the model" in box.informativeText()
    assert [m.name for m in model_versions(window.project)] == before
    box.accept()

    location = window.project.path
    window.close()
    again = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(again)
    assert again.open_project(location)
    assert "weights" not in [again.detect_panel.model_combo.itemText(i)
                             for i in range(again.detect_panel.model_combo.count())]
    again.close()


def test_a_verified_file_gets_a_readable_unique_name(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path))
    run_folder = tmp_path / "runs" / "7"
    run_folder.mkdir(parents=True)
    best = tiny_checkpoint(run_folder / "best.pth")
    _load_in_detect_panel(window, best)
    assert _refusal(window) is None
    assert window.detect_panel.model_combo.currentText() == "7 best"  # not "best"
    again = tmp_path / "elsewhere" / "7"
    again.mkdir(parents=True)
    _load_in_detect_panel(window, tiny_checkpoint(again / "best.pth"))
    assert window.detect_panel.model_combo.currentText() == "7 best (2)"


def _double_click_name(dialog, row: int) -> None:
    table = dialog.table
    rect = table.visualItemRect(table.item(row, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_models_are_renamed_removed_archived_and_restored_in_manage_models(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path))
    used = register_model(window.project, "used", tiny_checkpoint(tmp_path / "used.pth"))
    spare = register_model(window.project, "spare", tiny_checkpoint(tmp_path / "spare.pth"))
    ids = {s.rel_path: s.id for s in image_summaries(window.project)}
    record_detections(window.project, {ids["1.png"]: (np.array([[5.0, 5, 30, 30]]), np.array([0.9]))},
                      model_version_id=used.id)
    window.detect_panel.refresh_models()
    dialog = window.open_models_dialog()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    row = dialog.names().index("used")

    _double_click_name(dialog, row)  # rename by typing over the name, as in a file manager
    qtbot.waitUntil(lambda: dialog.table.state() == dialog.table.State.EditingState)
    focused = next(e for e in dialog.table.findChildren(QLineEdit) if e.isVisible())  # the cell's editor
    focused.selectAll()
    QTest.keyClicks(focused, "night v1")
    QTest.keyClick(focused, Qt.Key.Key_Return)  # Qt commits the edit on its next event-loop turn
    qtbot.waitUntil(lambda: {m.id: m.name for m in model_versions(window.project)}[used.id] == "night v1")
    assert window.detect_panel.model_combo.findText("night v1") >= 0  # the pickers follow

    # a taken name is refused and the stored one stays
    dialog.table.item(dialog.names().index("spare"), 0).setText("night v1")
    assert "already exists" in dialog.message.text()
    assert {m.id: m.name for m in model_versions(window.project)}[spare.id] == "spare"

    dialog.confirm = lambda parent, text: True
    dialog.table.selectRow(dialog.names().index("spare"))
    QTest.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert "spare" not in [m.name for m in model_versions(window.project)]  # nothing named it: deleted

    asked = []
    dialog.confirm = lambda parent, text: asked.append(text) or True
    dialog.table.selectRow(dialog.names().index("night v1"))
    QTest.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert "archived" in asked[0] and "1 detection runs" in asked[0]
    stored = {m.id: m for m in model_versions(window.project)}
    assert stored[used.id].archived  # its run and boxes still name it
    assert window.detect_panel.model_combo.findText("night v1") < 0
    assert window.loop.evaluation.model_combo.findText("night v1") < 0
    assert dialog.table.item(dialog.names().index("night v1"), 4).text() == "archived"

    dialog.table.selectRow(dialog.names().index("night v1"))
    QTest.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert not {m.id: m for m in model_versions(window.project)}[used.id].archived
    assert window.detect_panel.model_combo.findText("night v1") >= 0
    dialog.close()


def test_file_export_writes_wider_ground_truth_of_done_images(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ("1.png", "2.png", "3.png")))
    ids = {s.rel_path: s.id for s in image_summaries(window.project)}
    window.browser_panel.select_image(ids["1.png"])
    from tests.gui_gestures import drag

    window.views.left.setFocus()
    QTest.keyClick(window.views.left, Qt.Key.Key_W)
    drag(window.views.left, (10, 10), (40, 44))
    QTest.keyClick(window.views.left, Qt.Key.Key_Space)  # done, and on to 2.png
    set_review_status(window.project, ids["3.png"], "in_progress")
    QTest.keyClick(window.views.left, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = window.export_dialog
    assert dialog is not None and dialog.isVisible()
    out = tmp_path / "exported" / "wider_face_val_bbx_gt.txt"
    out.parent.mkdir()
    dialog.set_destination(out)
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: out.is_file() and not dialog.is_running(), timeout=20_000)
    records = wider.read_gt(out)
    assert [r.name for r in records] == ["1.png"]  # only the done image ...
    drawn = [b.xyxy for b in boxes_of(window.project, ids["1.png"]) if b.state == "accepted"]
    assert len(drawn) == 1 and drawn[0][:2] == (10.0, 10.0)
    assert from_wider(records[0]).boxes.tolist() == [list(drawn[0])]  # ... with the one face drawn
    assert dialog.open_button.isEnabled()
