"""A reviewer's day, part two: where the reviewer is in the list, which run's boxes they see, what the
min score hides, and what happens when something fails — all on the real ``ReviewWindow``, driven by
keys and clicks, checked by what is on screen (toolbar, view captions, drawn boxes, notices) and in
the store. Each test reproduces a defect of issue 15 (7, 8, 10, 12) and failed before it was fixed.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.store import (
    boxes_of,
    detection_runs,
    image_summaries,
    record_detections,
    register_model,
    review_queue,
    set_review_status,
)
from app.ui.review_window import ReviewWindow

W, H = 160, 120


def _folder(root: Path, names) -> Path:
    folder = root / "image"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        assert cv2.imwrite(str(folder / name), np.full((H, W, 3), 20 + 3 * i, np.uint8))
    return folder


def _key(window: ReviewWindow, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    window.views.left.setFocus()
    QTest.keyClick(window.views.left, key, modifiers)


def _ids(window) -> dict[str, int]:
    return {s.rel_path: s.id for s in image_summaries(window.project)}


def _show(window, name: str) -> None:
    assert window.browser_panel.select_image(_ids(window)[name])


def _listed(window) -> list[str]:
    panel = window.browser_panel
    return [panel.summary_at(r).rel_path for r in range(panel.row_count())]


def _drawn(window) -> list:
    """The boxes the views draw (visible items), as store rows."""
    return sorted((item.box for item in window.scene.box_items() if item.isVisible()), key=lambda b: b.id)


def _model(window, tmp_path: Path, name: str) -> int:
    weights = tmp_path / f"{name}.pth"
    weights.write_bytes(b"weights of " + name.encode())
    return register_model(window.project, name, weights).id


FACES = np.array([[10.0, 10, 40, 40], [60, 20, 90, 50], [100, 60, 130, 90]])


# -- 10. natural order, where am I, what does each view show --------------------------------------

def test_list_is_in_natural_order_and_the_toolbar_says_where_the_shown_image_is(qtbot, review_window, tmp_path):
    window = review_window
    names = [f"{i}.png" for i in range(1, 13)]
    assert window.open_folder(_folder(tmp_path, names))
    assert _listed(window) == names  # 1, 2, …, 10, 11, 12 — not 1, 10, 11, 12, 2
    assert [q.rel_path for q in review_queue(window.project, "unreviewed")] == names
    _show(window, "1.png")
    _key(window, Qt.Key.Key_D)
    _key(window, Qt.Key.Key_D)
    assert window.position_label.text().split("  ·  ") == ["3 / 12", "3.png", "new "]
    _key(window, Qt.Key.Key_Space)  # done and on to 4.png
    window.browser_panel.status_filter.setCurrentText("Not done")
    assert window.position_label.text().startswith("3 / 11  ·  4.png")


def test_each_view_is_captioned_with_what_it_shows(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["a.png"]))
    original, enhanced = window.views.views()
    assert window.captions[original].text() == "original"
    assert window.captions[enhanced].text() == "enhanced (MSRCR)"
    assert window.captions[original].isVisible() and window.captions[enhanced].isVisible()
    panel = window.enhance_panel
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("gamma"))
    panel.method_combo.activated.emit(panel.method_combo.currentIndex())
    qtbot.waitUntil(lambda: window.captions[enhanced].text() == "enhanced (Gamma)")


def test_log_lines_carry_the_time(qtbot, review_window, tmp_path):
    window = review_window
    assert not window.open_project(tmp_path / "missing" / "nothing.db")
    last = window.log_panel.toPlainText().splitlines()[-1]
    assert re.match(r"\d\d:\d\d:\d\d  Could not open", last), last


# -- 7. what the min score hides is said on the views; a threshold per model ----------------------------

def test_proposals_below_the_min_score_are_counted_on_the_views(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png", "2.png"]))
    ids = _ids(window)
    model = _model(window, tmp_path, "weak")
    record_detections(window.project, {ids["1.png"]: (FACES, np.array([0.31, 0.22, 0.12]))}, model_version_id=model)
    _show(window, "2.png")
    _show(window, "1.png")
    assert window.confidence.value() == 50 and _drawn(window) == []  # the views show nothing ...
    original, enhanced = window.views.views()
    for view in (original, enhanced):  # ... and each says why
        assert "3 below 0.50 hidden" in window.captions[view].text()
    window.confidence.setValue(20)
    assert len(_drawn(window)) == 2
    assert "1 below 0.20 hidden" in window.captions[original].text()
    window.confidence.setValue(5)
    assert len(_drawn(window)) == 3 and window.captions[original].text() == "original"


def test_the_min_score_is_remembered_per_model(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png", "2.png", "3.png"]))
    ids = _ids(window)
    calibrated, timid = _model(window, tmp_path, "calibrated"), _model(window, tmp_path, "timid")
    record_detections(window.project, {ids["1.png"]: (FACES, np.array([0.9, 0.7, 0.6]))}, model_version_id=calibrated)
    record_detections(window.project, {ids["2.png"]: (FACES, np.array([0.3, 0.2, 0.1]))}, model_version_id=timid)
    _show(window, "3.png")
    _show(window, "1.png")
    window.confidence.setValue(65)
    _show(window, "2.png")
    window.confidence.setValue(15)
    _show(window, "1.png")
    assert window.confidence.value() == 65
    _show(window, "3.png")  # no proposals: the slider stays as it is
    assert window.confidence.value() == 65
    _show(window, "2.png")
    assert window.confidence.value() == 15 and len(_drawn(window)) == 2
    location = window.project.path
    window.close()
    again = ReviewWindow(settings=window._settings)
    qtbot.addWidget(again)
    assert again.open_project(location)
    _show(again, "2.png")
    assert again.confidence.value() == 15  # kept across restarts, in the project's view state
    again.close()


# -- 8. one run at a time -------------------------------------------------------------------------------

def test_a_raw_and_an_enhanced_run_show_one_set_of_boxes_with_a_run_picker(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png", "2.png"]))
    ids = _ids(window)
    model = _model(window, tmp_path, "srn")
    raw = record_detections(window.project, {ids["1.png"]: (FACES, np.array([0.9, 0.8, 0.7]))},
                            model_version_id=model)
    enhanced = record_detections(window.project, {ids["1.png"]: (FACES + 1, np.array([0.95, 0.85, 0.75]))},
                                 model_version_id=model, enhanced=True)
    _show(window, "2.png")
    _show(window, "1.png")
    assert len(boxes_of(window.project, ids["1.png"])) == 6
    assert {b.detection_run_id for b in _drawn(window)} == {enhanced}  # the latest run only, not 6 boxes
    picker = window.run_picker
    assert picker.isEnabled() and picker.currentText().startswith(f"Latest run: run {enhanced} · srn · enhanced")
    entries = [picker.itemText(i) for i in range(picker.count())]
    assert any(e.startswith(f"run {raw} · srn · raw") and e.endswith("(3 here)") for e in entries)

    picker.setCurrentIndex(picker.findData(raw))
    picker.activated.emit(picker.currentIndex())
    assert {b.detection_run_id for b in _drawn(window)} == {raw}
    # accept all (Shift+Y) takes the shown run's proposals only
    _key(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ShiftModifier)
    stored = {b.detection_run_id: b.state for b in boxes_of(window.project, ids["1.png"])}
    states = {(b.detection_run_id, b.state) for b in boxes_of(window.project, ids["1.png"])}
    assert states == {(raw, "accepted"), (enhanced, "proposed")}, stored
    # decided boxes stay whatever run is chosen; the Box panel names the run
    picker.setCurrentIndex(picker.findData("latest"))
    picker.activated.emit(picker.currentIndex())
    assert len(_drawn(window)) == 6
    window.editor.select([b.id for b in _drawn(window) if b.detection_run_id == raw][:1])
    assert f"from detection run {raw}" in window.attributes.summary.text()
    picker.setCurrentIndex(picker.findData("all"))
    picker.activated.emit(picker.currentIndex())
    assert len(_drawn(window)) == 6


def test_the_box_panel_gives_model_boxes_whole_pixel_sizes(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    record_detections(window.project, {_ids(window)["1.png"]: (np.array([[10.4, 12.6, 33.2, 40.7]]), np.array([0.9]))})
    _show(window, "1.png")
    window.editor.load(window.current_image_id)
    window.editor.select([_drawn(window)[0].id])
    assert "24 × 29 px at (10, 13)" in window.attributes.summary.text()


def test_detect_all_leaves_done_images_alone_unless_asked(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png", "2.png", "3.png"]))
    ids = _ids(window)
    set_review_status(window.project, ids["2.png"], "done")
    panel = window.detect_panel
    panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("all"))
    assert panel.image_ids() == [ids["1.png"], ids["3.png"]]
    panel.include_done.setChecked(True)
    assert panel.image_ids() == [ids["1.png"], ids["2.png"], ids["3.png"]]


# -- 12. failures said where the reviewer looks -----------------------------------------------------------

def test_a_failed_detection_is_a_notice_with_a_way_to_the_details(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    weights = tmp_path / "gone.pth"
    weights.write_bytes(b"x")
    model = register_model(window.project, "gone", weights)
    weights.unlink()  # the file went away after it was registered
    window.detect_panel.refresh_models(select_id=model.id)
    window.show_panel(window.attributes)
    window.detect_panel.scope_combo.setCurrentIndex(window.detect_panel.scope_combo.findData("current"))
    QTest.mouseClick(window.detect_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.notice.text() != "", timeout=20_000)
    assert window.notice.kind() == "error" and "gone.pth" in window.notice.text()
    assert window.notice.action_button.text() == "Details"
    QTest.mouseClick(window.notice.action_button, Qt.MouseButton.LeftButton)
    assert window.current_panel() is window.detect_panel
    assert "gone.pth" in window.detect_panel.log.toPlainText()
    assert detection_runs(window.project) == [] or all(r.image_count == 0 for r in detection_runs(window.project))


def test_nothing_to_detect_is_said_not_just_logged(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    set_review_status(window.project, _ids(window)["1.png"], "done")
    model = _model(window, tmp_path, "m")
    panel = window.detect_panel
    panel.refresh_models(select_id=model)
    panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("all"))
    QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert "No images to process" in window.notice.text() and "marked done" in window.notice.text()


# -- 9. every side tab fits a 1280×720 screen ---------------------------------------------------------------

def test_every_tab_fits_at_1280x720_and_the_pr_plot_is_wide(qtbot, review_window, tmp_path):
    from PySide6.QtWidgets import QScrollArea

    window = review_window
    window.resize(1280, 720)
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        qtbot.wait(20)
        page = window.tabs.widget(i)
        if isinstance(page, QScrollArea):  # no sideways scrolling: the page is as wide as its viewport
            assert not page.horizontalScrollBar().isVisible(), window.tabs.tabText(i)
            assert page.widget().width() <= page.viewport().width(), window.tabs.tabText(i)
    bar = window.tabs.tabBar()  # every tab's name is readable: no scroll arrows on the tab bar
    assert sum(bar.tabRect(i).width() for i in range(bar.count())) <= window.tabs.width()
    window.show_panel(window.loop.evaluation)
    qtbot.wait(20)
    evaluation = window.loop.evaluation
    assert evaluation.plot.isVisible() and evaluation.plot.width() >= 300
    assert evaluation.plot.height() >= 220
    big = evaluation.show_plot_window()
    qtbot.waitExposed(big)
    assert big.findChild(type(evaluation.plot), "evalBigPlot").width() > evaluation.plot.width()
    big.close()


def test_the_evaluate_tab_still_fits_after_an_evaluation_of_a_deeply_filed_label_set(qtbot, review_window,
                                                                                      tmp_path):
    """A run's summary line ("53 false positives, 126 missed faces at score ≥ 0.266; …") and a
    label set deep in the file system widened the Evaluate tab past the dock: the reviewer had to
    scroll sideways to reach Cancel and Re-detect. Both are now wrapped or elided, in full in a tooltip."""
    from PySide6.QtWidgets import QScrollArea

    from app.jobs.evaluate_job import LabelSet
    from app.store.evaluations import record_evaluation

    window = review_window
    window.resize(1280, 720)
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    model = _model(window, tmp_path, "a model whose name is long enough to fill a picker on its own")
    deep = tmp_path.joinpath(*[f"folder-{i}-of-the-archive" for i in range(8)])
    label_set = LabelSet(deep / "label", deep / "image")
    evaluation = window.loop.evaluation
    window.show_panel(evaluation)
    evaluation.add_label_set(label_set)
    box = {"image_id": _ids(window)["1.png"], "path": None, "box": [1, 2, 30, 40], "score": 0.5}
    stored = record_evaluation(window.project, model, "heldout", ap=0.25, n_images=1, n_faces=126,
                               errors={"threshold": 0.266, "false_positives": [box] * 53, "missed": [box] * 126})
    evaluation.refresh_models()
    evaluation.model_combo.setCurrentIndex(evaluation.model_combo.findData(model))
    evaluation.select_evaluation(stored.id)
    evaluation.results.setCurrentWidget(evaluation.error_browser)
    qtbot.wait(50)
    assert "53 false positives, 126 missed faces" in evaluation.errors_label.text()
    page = window.tabs.currentWidget()
    assert isinstance(page, QScrollArea) and page.widget() is evaluation
    assert not page.horizontalScrollBar().isVisible()
    assert evaluation.width() <= page.viewport().width()
    assert evaluation.redetect_button.geometry().right() <= page.viewport().width()
    assert str(deep / "label") in evaluation.dataset_combo.toolTip()
    assert evaluation.model_combo.toolTip() == "a model whose name is long enough to fill a picker on its own"


def test_sci_and_lime_are_offered_shown_and_named_wherever_the_enhancement_is_used(qtbot, review_window, tmp_path):
    from srn.enhance import LIMEParams, SCIParams, enhance

    window = review_window
    folder = _folder(tmp_path, ["a.png"])
    rng = np.random.default_rng(5)  # a dark picture with structure, so each method shows its own result
    night = np.clip(rng.normal(25, 8, (H, W, 3)) + np.linspace(0, 30, W)[None, :, None], 0, 255).astype(np.uint8)
    assert cv2.imwrite(str(folder / "a.png"), night)
    assert window.open_folder(folder)
    original, enhanced = window.views.views()
    panel = window.enhance_panel
    evaluation = window.loop.evaluation
    inputs = evaluation.input_combo
    assert inputs.itemText(inputs.findData("enhanced")) == "Enhanced images (MSRCR)"
    image = cv2.cvtColor(cv2.imread(str(tmp_path / "image" / "a.png")), cv2.COLOR_BGR2RGB)
    for name, caption, params in (("sci", "SCI", SCIParams()), ("lime", "LIME", LIMEParams())):
        panel.method_combo.setCurrentIndex(panel.method_combo.findData(name))
        panel.method_combo.activated.emit(panel.method_combo.currentIndex())
        qtbot.waitUntil(lambda c=caption: window.captions[enhanced].text() == f"enhanced ({c})")
        expected = enhance(image, params)
        assert expected.mean() > 2 * image.mean() and len(np.unique(expected)) > 50

        def shows(expected=expected) -> bool:  # the full-resolution result, pixel for pixel at a few places
            shown = window.views.enhanced()
            return shown is not None and shown.width() == W and all(
                shown.pixelColor(x, y).getRgb()[:3] == tuple(int(v) for v in expected[y, x])
                for x, y in ((5, 7), (80, 60), (150, 110)))

        qtbot.waitUntil(shows, timeout=30_000)
        qtbot.waitUntil(lambda c=caption: inputs.itemText(inputs.findData("enhanced")) == f"Enhanced images ({c})")
        assert panel.params() == params


def test_the_image_list_never_scrolls_sideways_and_a_long_name_is_in_its_tooltip(qtbot, review_window, tmp_path):
    window = review_window
    window.resize(1280, 720)
    long_name = "night-camera-07-entrance-2026-12-04T23-59-59-frame-000123.png"
    assert window.open_folder(_folder(tmp_path, ["1.png", long_name]))
    view = window.browser_panel.view
    qtbot.wait(50)
    assert not view.horizontalScrollBar().isVisible()
    row = next(r for r in range(window.browser_panel.row_count()) if window.browser_panel.summary_at(r).rel_path
               == long_name)
    index = view.model().index(row, 0)
    assert long_name in view.model().data(index, Qt.ItemDataRole.ToolTipRole)
    assert view.visualRect(index).right() <= view.viewport().width()


# -- the tiny-face loupe in the window ------------------------------------------------------------------

def test_l_toggles_the_loupe_in_both_views_and_the_view_menu_follows(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    action = window.actions["toggle_loupe"]
    assert action in window.menus["View"].actions() and not action.isChecked()
    _key(window, Qt.Key.Key_L)
    assert window.views.loupe_enabled() and action.isChecked()
    assert all(loupe.enabled() for loupe in window.views.loupes())
    _key(window, Qt.Key.Key_L)
    assert not window.views.loupe_enabled() and not action.isChecked()


def test_captions_stay_in_the_corner_while_the_image_pans(qtbot, review_window, tmp_path):
    window = review_window
    assert window.open_folder(_folder(tmp_path, ["1.png"]))
    original = window.views.views()[0]
    window.views.zoom_by(8)
    original.horizontalScrollBar().setValue(original.horizontalScrollBar().maximum())
    original.verticalScrollBar().setValue(original.verticalScrollBar().maximum() // 2)
    assert window.captions[original].pos().x() == 6 and window.captions[original].pos().y() == 6
