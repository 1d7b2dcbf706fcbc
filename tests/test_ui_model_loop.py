"""The semi-supervised loop in the review window: label → fine-tune → new model everywhere →
evaluate → re-detect with changes highlighted; errors open zoomed; orphaned runs are failed."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from PySide6.QtCore import QRectF

from app.jobs import train_job
from app.jobs.train_job import ORPHANED, fail_orphaned_runs, srn_command
from app.main import main as app_main
from app.store import boxes_of, model_versions, register_model
from app.store.evaluations import evaluations
from app.store.experiment_table import experiment_table
from app.store.labelled_sets import HELDOUT
from app.store.training import get_training_run, start_training_run
from app.ui.review_window import ReviewWindow

WAIT_MS = 120_000


@pytest.fixture
def window(qtbot, qt_settings, tmp_path, tp):
    tp.project.close()
    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_project(tmp_path / "project.db")
    window.detect_panel.device = "cpu"
    window.loop.evaluation.device = "cpu"
    window.loop.training.env = {"OMP_NUM_THREADS": "1"}
    window.ids, window.base_id = tp.ids, tp.base_id
    yield window
    window.close()


@pytest.mark.slow
def test_fine_tune_registers_a_model_that_every_picker_offers_then_it_is_evaluated(qtbot, window):
    training = window.loop.training
    window.show_panel(training)
    assert window.current_panel() is training
    assert window.views.width() > 500  # the Train and Evaluate panels do not squeeze the image views
    base = next(m for m in model_versions(window.project) if m.id == window.base_id)
    job = training.start({"base_checkpoint": base.checkpoint_path, "base_model_id": base.id, "base_name": base.name,
                          "iterations": 2, "batch_size": 2, "size": 128, "device": "cpu", "workers": 0,
                          "pseudo_labels": None, "enhance": None,
                          "train_config": {"log_every": 1, "warmup_iters": 0}})
    assert job is not None
    with qtbot.waitSignal(training.model_registered, timeout=WAIT_MS) as blocker:
        pass
    new_id = blocker.args[0]
    tuned = next(m for m in model_versions(window.project) if m.id == new_id)
    assert tuned.parent_id == base.id
    combo = window.detect_panel.model_combo
    assert any(combo.itemData(i) == new_id for i in range(combo.count()))  # the Detect tab offers it
    assert "registered" in window.log_panel.toPlainText()

    view = window.loop.evaluation
    window.show_panel(view)  # refreshes its models
    rows = experiment_table(window.project)  # trained on raw images ("enhance": None): row D, not C
    assert [r.model.id if r.model else None for r in rows] == [base.id, base.id, None, new_id]
    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS):
        view.compute_missing()
    qtbot.waitUntil(lambda: not view.is_running() and len(evaluations(window.project, dataset=HELDOUT)) == 3,
                    timeout=WAIT_MS)
    assert [r.missing for r in experiment_table(window.project)] == [False, False, True, False]
    shown = [view.table.item(r, 2).text() for r in range(view.table.rowCount())]
    assert len(shown) == 4 and shown[2] == "missing" and all(text not in ("", "–", "-") for text in shown)


def test_redetect_highlights_what_the_new_model_changed(qtbot, window, confident_checkpoint):
    image = window.ids["7"]  # unreviewed, with three proposals of the base model
    before = [b for b in boxes_of(window.project, image) if b.source == "model"]
    assert len(before) == 3
    confident = register_model(window.project, "confident", confident_checkpoint, parent_id=window.base_id)
    window.show_image_id(image)
    assert window.loop.redetect(confident.id)
    assert window.current_panel() is window.detect_panel
    with qtbot.waitSignal(window.detect_panel.run_finished, timeout=WAIT_MS):
        pass
    changes = window.loop.changes(image)
    assert changes is not None and changes.new
    after = {b.id for b in boxes_of(window.project, image) if b.source == "model"}
    assert set(changes.new) <= after and not set(changes.new) & {b.id for b in before}
    highlighted, gone = window.scene.outlines.changes()
    assert highlighted == frozenset(changes.new) and len(gone) == len(changes.gone)
    assert "Re-detection:" in window.log_panel.toPlainText()
    window.show_image_id(window.ids["1"])  # another image: its own (no) changes
    assert window.scene.outlines.changes()[0] == frozenset()


def test_an_error_opens_its_image_zoomed_on_the_box(qtbot, window):
    target = window.ids["3"]
    window.show_image_id(window.ids["1"])
    window.views.fit()
    window.loop.evaluation.open_location.emit(target, (70.0, 50.0, 89.0, 69.0))
    assert window.current_image_id == target
    left, right = window.views.views()
    for view in (left, right):
        assert view.isVisible()
        centre, shown = view.center(), view.visible_scene_rect()
        assert abs(centre.x() - 80) < 2 and abs(centre.y() - 60) < 2  # centred on the box
        assert shown.contains(QRectF(70, 50, 20, 20))
        assert min(shown.width(), shown.height()) < 4 * 20 + 8  # zoomed: the box is a quarter of the view


def test_runs_left_running_by_a_dead_app_are_marked_failed(window, tmp_path):
    project = window.project
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "srn"])
    try:
        here = platform.node()
        runs = {
            "dead": start_training_run(project, {"host": here, "pid": dead.pid}, status="running"),
            "alive": start_training_run(project, {"host": here, "pid": alive.pid}, status="running"),
            "no pid": start_training_run(project, {"host": here}, status="running"),
            "elsewhere": start_training_run(project, {"host": here + "-other", "pid": 1}, status="running"),
        }
        runs = {k: (v if isinstance(v, int) else v.id) for k, v in runs.items()}
        failed = fail_orphaned_runs(project)
        assert sorted(failed) == sorted([runs["dead"], runs["no pid"]])
        assert get_training_run(project, runs["dead"]).metrics["error"] == ORPHANED
        assert get_training_run(project, runs["alive"]).status == "running"
        assert get_training_run(project, runs["elsewhere"]).status == "running"
    finally:
        alive.kill()
        alive.wait()


def test_the_app_runs_the_ml_command_line_for_frozen_builds(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app_main(["srn", "--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip()
    assert srn_command() == [sys.executable, "-m", "srn"]
    monkeypatch.setattr(train_job.sys, "frozen", True, raising=False)
    assert srn_command() == [sys.executable, "srn"]


def test_a_failed_redetect_does_not_make_later_detections_look_changed(qtbot, window, tmp_path):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    bad = register_model(window.project, "broken", broken)
    assert window.loop.redetect(bad.id)
    with qtbot.waitSignal(window.detect_panel.run_ended, timeout=WAIT_MS):
        pass
    assert window.loop._before is None and window.loop.changes(window.ids["7"]) is None
