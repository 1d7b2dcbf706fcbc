"""Detection from the app: the background DetectJob and the DetectPanel, on a real project and model."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, Qt, QThread, QTimer

from app.jobs.detect_job import NO_RUN, DetectJob, format_eta
from app.store import Project, boxes_of, import_images, model_versions, register_model, run_image_ids
from app.store.tables import DetectionRun
from app.ui.detect_panel import DetectPanel
from app.ui.panel_helpers import LOAD_WEIGHTS
from srn.engine.checkpoint import sha256_file

WAIT_MS = 60_000
NAMES = ["a.png", "b.png", "c.png", "d.png"]
BAD = "c.png"


@pytest.fixture
def checkpoint(confident_checkpoint) -> Path:
    return confident_checkpoint


@pytest.fixture
def project(tmp_path, write_images):
    """Four imported 160×120 images; the file of ``c.png`` is then overwritten with garbage."""
    folder = tmp_path / "images"
    write_images(folder, NAMES)
    p = Project.create(tmp_path / "p.db")
    report = import_images(p, folder)
    assert report.added == len(NAMES)
    (folder / BAD).write_bytes(b"not an image")
    yield p
    p.close()


def _ids(project: Project) -> dict[str, int]:
    from app.store import review_queue

    return {q.rel_path: q.image_id for q in review_queue(project, "path")}


def _run(project: Project, run_id: int) -> DetectionRun:
    with project.read() as s:
        return s.get(DetectionRun, run_id)


def test_job_detects_every_image_in_a_worker_thread_and_skips_the_corrupt_one(qtbot, project, checkpoint):
    ids = _ids(project)
    version = register_model(project, "tiny", checkpoint)
    job = DetectJob(project, list(ids.values()), checkpoint, version.id, None, "single", "cpu",
                    parent=QCoreApplication.instance())
    seen = {"progress": [], "done": [], "failed": [], "device": [], "threads": set()}
    job.progress.connect(lambda d, t, eta: seen["progress"].append((d, t, eta)))
    job.image_done.connect(lambda i, n: seen["done"].append((i, n)))
    job.image_failed.connect(lambda i, m: seen["failed"].append((i, m)))
    job.device_ready.connect(seen["device"].append)
    # Direct: runs in the emitting thread, i.e. where the detector works.
    job.worker.image_done.connect(lambda *_: seen["threads"].add(QThread.currentThread()),
                                  Qt.ConnectionType.DirectConnection)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as blocker:
        job.start()
    timer.stop()
    assert job.wait(5_000)
    run_id = blocker.args[0]

    assert seen["threads"] and QCoreApplication.instance().thread() not in seen["threads"]
    assert job.worker.thread_ident not in (None, threading.get_ident())
    assert len(ticks) >= 3, "the GUI event loop kept running during detection"
    assert seen["device"] and seen["device"][0].startswith("cpu")

    total = len(NAMES)
    assert seen["progress"][0] == (0, total, -1.0)
    assert [p[:2] for p in seen["progress"][1:]] == [(d, total) for d in range(1, total + 1)]
    assert all(eta >= 0 for _, _, eta in seen["progress"][1:]) and seen["progress"][-1][2] == 0

    assert [i for i, _ in seen["failed"]] == [ids[BAD]]
    assert BAD in seen["failed"][0][1]
    good = [ids[n] for n in NAMES if n != BAD]
    assert [i for i, _ in seen["done"]] == good
    for image_id, n in seen["done"]:
        boxes = boxes_of(project, image_id)
        assert n > 0 and len(boxes) == n
        assert {(b.source, b.state, b.detection_run_id, b.model_version_id) for b in boxes} == {
            ("model", "proposed", run_id, version.id)}
    assert boxes_of(project, ids[BAD]) == []

    run = _run(project, run_id)
    assert run.model_version_id == version.id and run.enhanced is False
    assert run.settings["checkpoint_sha256"] == sha256_file(checkpoint)
    assert run.settings["mode"] == "single" and run.settings["enhancement"] is None
    assert run.settings["device"].startswith("cpu") and run_image_ids(project, run_id) == sorted(good)


def test_cancel_after_the_first_image_keeps_what_finished(qtbot, project, checkpoint):
    from srn.enhance import MSRCRParams

    ids = list(_ids(project).values())
    job = DetectJob(project, ids, checkpoint, None, MSRCRParams(), "single", "cpu",
                    parent=QCoreApplication.instance())
    done = []
    job.image_done.connect(lambda i, n: done.append(i))
    # Direct: cancel in the worker thread right after image 1, before it looks at image 2.
    job.worker.image_done.connect(lambda *_: job.cancel(), Qt.ConnectionType.DirectConnection)
    finished = []
    job.finished.connect(finished.append)
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000)
    run_id = blocker.args[0]
    assert run_id != NO_RUN and not finished
    assert done == ids[:1]
    assert len(boxes_of(project, ids[0])) > 0
    assert all(boxes_of(project, i) == [] for i in ids[1:])
    run = _run(project, run_id)
    assert run_image_ids(project, run_id) == ids[:1]
    assert run.enhanced is True and run.settings["enhancement"]["method"] == "msrcr"


def test_missing_checkpoint_fails_naming_the_file(qtbot, project, tmp_path):
    missing = tmp_path / "nowhere" / "SRN.pth"
    job = DetectJob(project, list(_ids(project).values()), missing, parent=QCoreApplication.instance())
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000)
    assert str(missing) in blocker.args[0]
    with project.read() as s:
        assert s.query(DetectionRun).count() == 0


def test_corrupt_checkpoint_fails_naming_the_file(qtbot, project, tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    job = DetectJob(project, [1], bad, parent=QCoreApplication.instance())
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000) and str(bad) in blocker.args[0]


def test_eta_text():
    assert format_eta(-1) == "" and format_eta(4.4) == "0:04" and format_eta(3 * 3600 + 61) == "3:01:01"


def test_panel_loads_weights_and_runs_on_all_images(qtbot, project, checkpoint):
    panel = DetectPanel()
    qtbot.addWidget(panel)
    panel.device = "cpu"
    panel.set_project(project)
    assert panel.selected_model() is None and not panel.run_button.isEnabled()

    panel.choose_file = lambda parent: str(checkpoint)
    panel.model_combo.setCurrentIndex(panel.model_combo.findText(LOAD_WEIGHTS))
    versions = model_versions(project)
    assert [v.name for v in versions] == ["tiny_srn"]
    assert panel.selected_model_id() == versions[0].id and panel.model_combo.currentText() == "tiny_srn"
    assert panel.run_button.isEnabled()

    # The same file again selects the existing version; a cancelled dialog keeps the selection.
    panel.model_combo.setCurrentIndex(panel.model_combo.findText(LOAD_WEIGHTS))
    panel.choose_file = lambda parent: None
    panel.model_combo.setCurrentIndex(panel.model_combo.findText(LOAD_WEIGHTS))
    assert len(model_versions(project)) == 1 and panel.selected_model_id() == versions[0].id

    panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("all"))
    refreshed = []
    panel.image_done.connect(refreshed.append)
    with qtbot.waitSignal(panel.run_finished, timeout=WAIT_MS) as blocker:
        panel.run_button.click()
        assert panel.is_running() and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    assert blocker.args[0] > 0
    assert panel.progress_bar.value() == panel.progress_bar.maximum() == len(NAMES)
    assert "100" in panel.progress_bar.text()
    ids = _ids(project)
    assert sorted(refreshed) == sorted(ids[n] for n in NAMES if n != BAD)
    log = panel.log.toPlainText()
    assert BAD in log and "not a readable image" in log
    assert panel.device_label.text().startswith("Device: cpu")
    assert not panel.is_running() and panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_panel_scope_provider_and_unique_model_names(qtbot, project, checkpoint, tmp_path):
    panel = DetectPanel()
    qtbot.addWidget(panel)
    register_model(project, "tiny_srn", checkpoint)
    panel.set_project(project)
    assert panel.selected_model().name == "tiny_srn"
    other = tmp_path / "tiny_srn.pth"
    other.write_bytes(checkpoint.read_bytes())
    panel.choose_file = lambda parent: other
    version = panel.load_weights()
    assert version.name == "tiny_srn (2)" and panel.selected_model_id() == version.id

    ids = _ids(project)
    panel.set_scope_provider(lambda scope: [ids["b.png"]] if scope == "current" else None)
    assert panel.image_ids("current") == [ids["b.png"]]
    assert panel.image_ids("unreviewed") == list(ids.values())
    assert panel.image_ids("selected") == []


def test_stop_cancels_and_joins_the_thread(qtbot, project, checkpoint):
    job = DetectJob(project, list(_ids(project).values()), checkpoint, device="cpu",
                    parent=QCoreApplication.instance())
    with qtbot.waitSignal(job.device_ready, timeout=WAIT_MS):
        job.start()
    assert job.stop(WAIT_MS) and not job.is_running()
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        pass  # the queued end signal still reaches the GUI thread


def test_panel_cancel_ends_the_run(qtbot, project, checkpoint):
    panel = DetectPanel()
    qtbot.addWidget(panel)
    panel.device = "cpu"
    register_model(project, "tiny", checkpoint)
    panel.set_project(project)
    panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("all"))
    job = panel.run()
    assert job is not None
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert "Cancelled" in panel.log.toPlainText() and panel.run_button.isEnabled()
