"""The sample project: generated once, atomically, reused afterwards, cancellable, in the background."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QLockFile

from app.jobs.sample_job import SampleProjectJob
from app.project_folder import folder_project_path
from app.sample_project import (
    COMPLETE_MARKER,
    DATA_DIR_ENV,
    DETECTING,
    GENERATING,
    PROPOSAL_FLOOR,
    SAMPLE_NAME,
    data_dir,
    ensure_sample_project,
    is_complete,
    sample_project_dir,
)
from app.store import Project, boxes_of, image_summaries, model_versions
from app.ui.review_window import ReviewWindow
from srn.data import synth
from srn.engine.shipped_models import DEMO_MODEL_NAME
from srn.formats.darkface import read_label

SMALL = {"n": 3, "config": synth.SynthConfig(width=160, height=120)}


def _no_generation(*args, **kwargs):
    raise AssertionError("the sample project must not be generated again")


def test_data_dir_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert data_dir() == tmp_path / "data"


def test_generates_a_complete_sample(tmp_path: Path) -> None:
    path = ensure_sample_project(tmp_path, **SMALL)
    assert path == sample_project_dir(tmp_path) == tmp_path / SAMPLE_NAME
    assert is_complete(path)
    assert sorted(p.name for p in (path / "night").glob("*.png")) == ["1.png", "2.png", "3.png"]
    assert sorted(p.name for p in (path / "label").iterdir()) == ["1.txt", "2.txt", "3.txt"]
    marker = json.loads((path / COMPLETE_MARKER).read_text())
    assert marker["n"] == 3
    # The project is made with the sample, at its final path: images new, the demo model's
    # proposals stored (detected on MSRCR images), the ground truth not imported as boxes.
    with Project.open(folder_project_path(path / "night")) as project:
        summaries = image_summaries(project)
        assert [s.rel_path for s in summaries] == ["1.png", "2.png", "3.png"]
        assert {s.status for s in summaries} == {"new"} and sum(s.labels for s in summaries) == 0
        assert sum(s.proposed for s in summaries) == marker["proposals"] > 0
        assert [root for _, root in project.roots()] == [path / "night"]
        (demo,) = model_versions(project)
        assert demo.name == DEMO_MODEL_NAME and demo.metrics["demo"] is True
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [SAMPLE_NAME]


def test_a_complete_sample_is_reused(tmp_path: Path, monkeypatch) -> None:
    first = ensure_sample_project(tmp_path, **SMALL)
    stamp = (first / "night" / "1.png").stat().st_mtime_ns
    monkeypatch.setattr(synth, "write_dataset", _no_generation)
    assert ensure_sample_project(tmp_path, **SMALL) == first
    assert (first / "night" / "1.png").stat().st_mtime_ns == stamp


def test_leftovers_of_a_killed_run_are_replaced(tmp_path: Path) -> None:
    stale = tmp_path / f".{SAMPLE_NAME}.partial"
    (stale / "night").mkdir(parents=True)
    (stale / "night" / "99.png").write_bytes(b"half written")
    half = tmp_path / SAMPLE_NAME  # no marker: not a sample, whatever it holds
    (half / "night").mkdir(parents=True)
    (half / "night" / "junk.png").write_bytes(b"junk")
    assert not is_complete(half)
    path = ensure_sample_project(tmp_path, **SMALL)
    assert is_complete(path)
    assert not stale.exists()
    assert not (path / "night" / "junk.png").exists()
    assert sorted(p.name for p in (path / "night").glob("*.png")) == ["1.png", "2.png", "3.png"]


def test_cancel_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    with pytest.raises(synth.Cancelled):
        ensure_sample_project(tmp_path, progress=lambda d, t, stage: calls.append((d, t, stage)),
                              cancel=lambda: bool(calls), **SMALL)
    assert calls == [(1, 3, GENERATING)]  # stopped after the first image
    assert not is_complete(sample_project_dir(tmp_path))
    assert not sample_project_dir(tmp_path).exists()
    assert not (tmp_path / f".{SAMPLE_NAME}.partial").exists()


def test_a_failing_generator_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    def half_then_fail(out, **kwargs):
        (Path(out) / "night").mkdir(parents=True)
        (Path(out) / "night" / "1.png").write_bytes(b"x")
        raise OSError("disk full")

    monkeypatch.setattr(synth, "write_dataset", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        ensure_sample_project(tmp_path, **SMALL)
    assert not sample_project_dir(tmp_path).exists()
    assert not (tmp_path / f".{SAMPLE_NAME}.partial").exists()


def test_a_second_instance_waits_and_reuses_the_first_ones_sample(tmp_path: Path, monkeypatch) -> None:
    other = QLockFile(str(tmp_path / f".{SAMPLE_NAME}.lock"))  # another app instance generating
    assert other.tryLock(0)
    monkeypatch.setattr(synth, "write_dataset", _no_generation)
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(ensure_sample_project(tmp_path, **SMALL)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and not result  # blocked on the lock
    target = sample_project_dir(tmp_path)
    target.mkdir()
    (target / COMPLETE_MARKER).write_text("{}")
    other.unlock()
    waiter.join(5)
    assert result == [target]


def test_waiting_for_another_instance_can_be_cancelled(tmp_path: Path) -> None:
    other = QLockFile(str(tmp_path / f".{SAMPLE_NAME}.lock"))
    assert other.tryLock(0)
    started = time.monotonic()
    with pytest.raises(synth.Cancelled):
        ensure_sample_project(tmp_path, cancel=lambda: time.monotonic() - started > 0.3, **SMALL)
    other.unlock()
    assert not sample_project_dir(tmp_path).exists()


def test_job_reports_progress_then_the_sample(qtbot, tmp_path: Path) -> None:
    job = SampleProjectJob(tmp_path, **SMALL)
    progress: list[tuple[int, int]] = []
    job.progress.connect(lambda done, total, stage: progress.append((done, total, stage)))
    with qtbot.waitSignal(job.finished, timeout=30_000) as blocker:
        job.start()
    assert blocker.args == [tmp_path / SAMPLE_NAME]
    qtbot.waitUntil(lambda: progress == [(i, 3, stage) for stage in (GENERATING, DETECTING) for i in (1, 2, 3)])
    assert job.stop()


def test_job_reports_failure_as_text(qtbot, tmp_path: Path, monkeypatch) -> None:
    def fail(out, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synth, "write_dataset", fail)
    job = SampleProjectJob(tmp_path, **SMALL)
    with qtbot.waitSignal(job.failed, timeout=10_000) as blocker:
        job.start()
    assert "disk full" in blocker.args[0] and str(tmp_path) in blocker.args[0]
    assert job.stop()


def _slow_generator(out, n, seed, config=None, progress=None, cancel=None):
    """Stands in for a long generation: reports progress, then waits to be cancelled."""
    Path(out).mkdir(parents=True)
    progress(1, n)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if cancel():
            raise synth.Cancelled("cancelled")
        time.sleep(0.01)
    raise AssertionError("cancel was never requested")


def test_window_opens_the_sample_night_images_when_ready(qtbot, qt_settings, tmp_path: Path) -> None:
    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    window.show()
    job = window.start_sample_project(tmp_path, **SMALL)
    # said in the empty views, where a newcomer looks, not in a status bar below the screen edge
    assert "Preparing the sample project" in window.view_message.text()
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    night = tmp_path / SAMPLE_NAME / "night"
    assert window.project.path == folder_project_path(night)
    assert window.notice.text().startswith("Sample project ready")
    assert window.view_message.text() == ""  # the progress message is gone once the images show
    assert window.browser_model.rowCount() == 3
    # It opens at the first image whose proposals the window shows at its min score (1.png if any).
    summary = window.browser_model.summary(window.browser_model.row_of(window.current_image_id))
    showing = [s.rel_path for s in image_summaries(window.project)
               if s.max_score is not None and s.max_score >= window.scene.confidence_threshold()]
    assert summary.rel_path == (showing[0] if showing else "1.png")
    # A review task: every image new, the demo model's proposals to decide on, no accepted boxes.
    summaries = image_summaries(window.project)
    assert {s.status for s in summaries} == {"new"} and sum(s.labels for s in summaries) == 0
    assert sum(s.proposed for s in summaries) > 0
    assert [m.name for m in model_versions(window.project)] == [DEMO_MODEL_NAME]
    assert window.detect_panel.model_combo.currentText() == DEMO_MODEL_NAME
    stored = boxes_of(window.project, window.current_image_id)
    assert {(b.source, b.state) for b in stored} <= {("model", "proposed")}
    assert all(b.score >= PROPOSAL_FLOOR for b in stored)
    shown = {b.id for b in stored if b.score >= window.scene.confidence_threshold()}
    assert len(window.scene.box_items()) == len(stored)
    assert {i.box.id for i in window.scene.box_items() if i.isVisible()} == shown
    # The ground truth is the Evaluate tab's labelled set, not boxes in the review.
    dataset = window.loop.evaluation.selected_dataset()
    assert dataset.labels == tmp_path / SAMPLE_NAME / "label" and dataset.images == night
    assert len(read_label(dataset.labels / "1.txt")) > 0
    window.close()


def test_closing_the_window_cancels_generation(qtbot, qt_settings, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(synth, "write_dataset", _slow_generator)
    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    window.show()
    job = window.start_sample_project(tmp_path, **SMALL)
    with qtbot.waitSignal(job.progress, timeout=10_000):
        pass
    started = time.monotonic()
    with qtbot.waitSignal(job.cancelled, timeout=10_000):
        window.close()
    assert time.monotonic() - started < 5
    assert not job.is_running()
    assert not sample_project_dir(tmp_path).exists()
    assert not (tmp_path / f".{SAMPLE_NAME}.partial").exists()


def test_deleting_a_window_mid_generation_does_not_take_the_job_down(
    qtbot, qt_settings, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(synth, "write_dataset", _slow_generator)
    window = ReviewWindow(settings=qt_settings)
    job = window.start_sample_project(tmp_path, **SMALL)
    with qtbot.waitSignal(job.progress, timeout=10_000):
        pass
    with qtbot.waitSignal(window.destroyed):
        window.deleteLater()  # no close(): nobody called stop_jobs()
    del window
    # Still alive: had the window owned it, dropping the last reference to it (here: ``job``)
    # would destroy a running QThread, which aborts the whole process.
    assert shiboken6.isValid(job) and job.is_running()
    assert job.stop()


def test_a_folder_opened_meanwhile_is_not_replaced_by_the_sample(qtbot, qt_settings, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    job = window.start_sample_project(tmp_path / "data", **SMALL)
    window.open_folder(mine)
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    assert window.project.path == folder_project_path(mine)
    window.close()


def test_the_window_and_the_command_line_share_one_data_folder(qapp, tmp_path: Path, monkeypatch) -> None:
    """``srn weights fetch`` (no Qt) must put models where the app looks: Qt's AppDataLocation."""
    from PySide6.QtCore import QCoreApplication, QStandardPaths

    from app.main import APP_NAME, ORG_NAME
    from srn.weights import catalogue

    assert (catalogue.APP_NAME, catalogue.ORG_NAME) == (APP_NAME, ORG_NAME)
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    names = QCoreApplication.applicationName(), QCoreApplication.organizationName()
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORG_NAME)
    try:
        qt = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
        assert data_dir() == qt == catalogue.data_dir()
    finally:
        QCoreApplication.setApplicationName(names[0])
        QCoreApplication.setOrganizationName(names[1])
