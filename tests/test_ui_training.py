"""Fine-tuning from the app: the dialog, and the panel driving real ``srn train`` processes.

Every run here is a real ``python -m srn train`` child (QProcess) on a tiny ResNet-18 model, a
real SQLite project and real synthetic images, so a run takes a few seconds of process start-up.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from app.jobs import processes, train_job
from app.jobs.processes import new_session_supported
from app.jobs.train_estimate import estimate_seconds, resolve_device, throughput_key
from app.jobs.train_job import TrainJob, TrainJobError, runs_root, train_command
from app.jobs.train_presets import QUICK, STANDARD, default_preset
from app.store import model_versions, project_stats
from app.store.training import (
    ensure_validation_split,
    get_training_run,
    start_training_run,
    training_runs,
)
from app.ui.finetune_dialog import FineTuneDialog
from app.ui.panel_helpers import LOAD_WEIGHTS
from app.ui.training_panel import LOSS_TERMS, TrainingPanel
from tests.training_fixtures import tiny_checkpoint

WAIT_MS = 120_000
ENV = {"OMP_NUM_THREADS": "1"}


def settings(tp, iterations: int, **extra) -> dict:
    return {"base_checkpoint": str(tp.base_checkpoint), "base_model_id": tp.base_id, "base_name": "tiny base",
            "iterations": iterations, "batch_size": 2, "size": 128, "device": "cpu", "workers": 0,
            "pseudo_labels": {"threshold": 0.8, "weight": 0.5}, "enhance": None,
            "train_config": {"log_every": 1, "warmup_iters": 0}, **extra}


@pytest.fixture
def panel(qtbot, tp):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.env = ENV
    panel.set_project(tp.project)
    yield panel
    panel.stop(10_000)


def _counts(project) -> tuple:
    stats = project_stats(project)
    return stats.images, stats.boxes, stats.boxes_by_source_state, stats.images_by_status, stats.model_versions


def test_dialog_offers_models_counts_and_an_estimate(qtbot, tp, tmp_path):
    dialog = FineTuneDialog(tp.project, {"method": "msrcr"})
    qtbot.addWidget(dialog)
    assert dialog.base_combo.currentText() == "tiny base" and dialog.base()[1] == tp.base_id
    text = dialog.data_label.text()
    assert text.startswith("0 labelled training images, 0 held out for evaluation (fixed)")
    assert "7 newly labelled image(s) get a split" in text  # every labelled image, done or in review
    assert "1 unreviewed" in dialog.pseudo_check.text()
    assert dialog.enhance_check.isEnabled() and dialog.enhance_check.isChecked()
    assert "rough guess" in dialog.estimate_label.text()
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.pseudo_check.setChecked(True)
    dialog.iterations.setValue(50)
    config = dialog.config()
    assert config["base_checkpoint"] == str(tp.base_checkpoint) and config["base_model_id"] == tp.base_id
    assert config["pseudo_labels"] == {"threshold": 0.8, "weight": 0.5} and config["enhance"] == {"method": "msrcr"}
    assert (config["iterations"], config["device"]) == (50, "cpu")
    # in epochs: every labelled training image once per epoch, in batches
    dialog.length_unit.setCurrentIndex(dialog.length_unit.findData("epochs"))
    dialog.iterations.setValue(3)
    dialog.batch.setValue(2)
    images = dialog.labelled_train_images()
    assert images > 0 and dialog.config()["iterations"] == -(-3 * images // 2)
    assert f"= {-(-3 * images // 2)} iterations" in dialog.length_hint.text()
    dialog.length_unit.setCurrentIndex(dialog.length_unit.findData("iterations"))
    assert dialog.config()["iterations"] == 3 and dialog.length_hint.text() == ""

    # "Load weights file…" registers a verified file as a model, so the new model's lineage names it.
    other = tiny_checkpoint(tmp_path / "other.pth")
    dialog.choose_file = lambda parent: str(other)
    dialog.base_combo.setCurrentIndex(dialog.base_combo.findText(LOAD_WEIGHTS))
    registered = {m.name: m.id for m in model_versions(tp.project)}
    assert len(registered) == 2 and dialog.base() == (str(other.resolve()), registered["other"], "other")

    # An earlier run measured on this device at this size replaces the rough guess.

    key = throughput_key(resolve_device("cpu")[1], "resnet18", 16)
    run_id = start_training_run(tp.project, {})
    from app.store.training import mark_training_run

    mark_training_run(tp.project, run_id, "finished",
                      metrics={"throughput": {**key, "size": 128, "batch_size": 2, "images_per_s": 4.0}})
    est = estimate_seconds(tp.project, iterations=100, batch_size=2, size=128, device="cpu", backbone="resnet18",
                           channels=16)
    assert est.source == "measured" and est.images_per_s == 4.0 and "measured" in est.text
    scaled = estimate_seconds(tp.project, iterations=100, batch_size=2, size=256, device="cpu", backbone="resnet18",
                              channels=16)
    assert scaled.source == "scaled" and scaled.images_per_s == pytest.approx(1.0)
    assert scaled.seconds > est.seconds

    # Once split (a run started): 4 (in review) hashes into the held-out set, 1 (done) is held out to
    # have one to score; the dialog says which held-out images are scored only once done.
    ensure_validation_split(tp.project)
    split = FineTuneDialog(tp.project)
    qtbot.addWidget(split)
    assert split.data_label.text() == ("5 labelled training images, 2 held out for evaluation "
                                       "(fixed; 1 of them still in review, scored once done)")
    assert (split.labelled_train_images(), split.scored_held_out_images()) == (5, 1)


def test_on_a_cpu_the_dialog_starts_from_the_quick_preset(qtbot, tp, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a reviewer's workstation
    dialog = FineTuneDialog(tp.project, {"method": "msrcr"})
    qtbot.addWidget(dialog)
    assert dialog.preset_combo.currentData() == QUICK.key
    config = dialog.config()
    assert (config["iterations"], config["batch_size"], config["size"], config["lr"], config["workers"]) == (
        QUICK.iterations, QUICK.batch_size, QUICK.size, QUICK.lr, 0)
    # Picking the standard preset sets the method's numbers; changing one makes it "Custom".
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData(STANDARD.key))
    assert (dialog.iterations.value(), dialog.batch.value(), dialog.size.value()) == (1000, 8, 640)
    assert (dialog.config()["lr"], dialog.config()["workers"]) == (STANDARD.lr, STANDARD.workers)
    dialog.iterations.setValue(999)
    assert dialog.preset_combo.currentData() == "custom" and dialog.config()["iterations"] == 999
    dialog.iterations.setValue(1000)
    assert dialog.preset_combo.currentData() == STANDARD.key
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("custom"))  # keeps the numbers
    assert dialog.iterations.value() == 1000
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData(QUICK.key))
    assert dialog.config()["iterations"] == QUICK.iterations
    assert default_preset("cpu") is QUICK
    # Fine-tuning the demo model's architecture with it is estimated in minutes, not hours.
    est = estimate_seconds(None, iterations=QUICK.iterations, batch_size=QUICK.batch_size, size=QUICK.size,
                           device="cpu", backbone="resnet18", channels=64)
    assert est.source == "rough" and est.seconds < 5 * 60


@pytest.mark.slow
def test_full_loop_registers_a_model_with_lineage_and_metrics(qtbot, panel, tp):
    progress, logs, registered = [], [], []
    panel.model_registered.connect(registered.append)
    from srn.enhance import MSRCRParams

    enhance = MSRCRParams().to_dict()
    job = panel.start(settings(tp, 3, enhance=enhance))
    assert job is not None and panel.is_running() and not panel.fine_tune_button.isEnabled()
    job.progress.connect(progress.append)
    job.log_line.connect(logs.append)
    run_id = job.run_id
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as blocker:
        pass
    assert blocker.args[0] == run_id
    model_id = blocker.args[1]
    assert registered == [model_id]

    assert [r["iter"] for r in progress] == [1, 2, 3]
    assert set(progress[0]) >= {"iter", "epoch", "total", *LOSS_TERMS, "lr", "images_per_s", "eta_s"}
    xs, ys = panel.curves["total"].getData()
    assert list(xs) == [1, 2, 3] and list(ys) == [r["total"] for r in progress]
    assert "images/s" in panel.speed_label.text() and "lr" in panel.lr_label.text()

    version = next(m for m in model_versions(tp.project) if m.id == model_id)
    assert version.name == f"tiny base ft{run_id}" and version.parent_id == tp.base_id
    assert version.training_run_id == run_id
    assert version.metrics["iterations"] == 3 and "val_ap50" in version.metrics and version.metrics["val_images"] >= 1
    run_dir = runs_root(tp.project) / str(run_id)
    assert run_dir == tp.project.path.parent / ".darkface-studio" / "runs" / "project" / str(run_id)
    assert Path(version.checkpoint_path) == run_dir / "final.pth"
    meta = torch.load(run_dir / "final.pth", weights_only=True)["metadata"]
    assert meta["metrics"]["val_ap50"] == version.metrics["val_ap50"]
    assert {s["type"] for s in meta["training_data"]["sources"]} == {"manifest"}
    assert meta["enhancement"] == enhance and any((runs_root(tp.project) / ".enhance-cache").rglob("*.png"))
    run = get_training_run(tp.project, run_id)
    # 7 labelled: 5 train, 2 held out of which 1 is done (scored) and 1 in review (neither); + 1 pseudo image
    assert run.config["split"] == {"train": 5, "val": 2} and version.metrics["val_images"] == 1
    assert meta["training_data"]["images"] == run.config["export"]["train"]["images"] + 1 == 5 + 1
    assert run.status == "finished" and run.finished_at >= run.started_at and run.model_version_id == model_id
    assert run.metrics["throughput"]["images_per_s"] > 0 and run.metrics["throughput"]["size"] == 128
    assert run.config["export"]["pseudo"]["images"] == 1 and run.config["export"]["train"]["images"] >= 1
    assert run.config["train_config"]["max_iters"] == 3 and run.config["parent_id"] == tp.base_id
    log = (run_dir / "train.log").read_text()
    assert run.log_path == str(run_dir / "train.log") and '"event": "done"' in log and "srn train:" in log
    assert any(line.startswith('{"iter": 3') for line in logs)
    assert "finished" in panel.status_label.text() and panel.fine_tune_button.isEnabled()
    assert panel.runs.topLevelItem(0).text(1) == "finished" and not panel.resume_button.isEnabled()


def test_kill_9_marks_the_run_failed_and_touches_nothing_else(qtbot, panel, tp):
    job = panel.start(settings(tp, 10_000))
    with qtbot.waitSignal(job.progress, timeout=WAIT_MS):
        pass
    before = _counts(tp.project)
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as blocker:
        os.kill(job.process_id(), signal.SIGKILL)
    run_id, message = blocker.args
    assert "killed or crashed" in message
    run = get_training_run(tp.project, run_id)
    assert run.status == "failed" and run.metrics["error"] == message and run.model_version_id is None
    assert _counts(tp.project) == before
    log = Path(run.log_path).read_text()
    assert '"iter": 1' in log and "failed: training was killed" in log
    assert "failed" in panel.status_label.text() and panel.fine_tune_button.isEnabled()


@pytest.mark.slow
def test_cancel_then_resume_reaches_finished(qtbot, panel, tp):
    job = panel.start(settings(tp, 10_000, pseudo_labels=None))
    with qtbot.waitSignal(job.progress, timeout=WAIT_MS):
        pass
    run_id = job.run_id
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        panel.cancel_button.click()
    run = get_training_run(tp.project, run_id)
    assert run.status == "cancelled" and run.metrics["resumable"] and run.model_version_id is None
    stopped_at = torch.load(Path(run.config["run_dir"]) / "last.pth", weights_only=True)["training_state"]["iteration"]
    assert stopped_at == run.metrics["last_iter"] >= 1
    assert panel.selected_run_id() == run_id and panel.resume_button.isEnabled()

    registered = []
    panel.model_registered.connect(registered.append)
    job = panel.resume(max_iters=stopped_at + 2)
    assert job is not None and get_training_run(tp.project, run_id).status == "running"
    iters = []
    job.progress.connect(lambda r: iters.append(r["iter"]))
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as blocker:
        pass
    assert blocker.args[0] == run_id and registered == [blocker.args[1]]
    assert iters == [stopped_at + 1, stopped_at + 2]
    run = get_training_run(tp.project, run_id)
    assert run.status == "finished" and run.model_version_id == blocker.args[1]
    version = next(m for m in model_versions(tp.project) if m.id == blocker.args[1])
    assert version.parent_id == tp.base_id and version.metrics["iterations"] == stopped_at + 2
    log = Path(run.log_path).read_text()
    assert "=== cancelled" in log and "=== resumed" in log and "=== finished" in log
    assert [r.status for r in training_runs(tp.project)] == ["finished"]
    # the live curve went on from the iterations before the resume ...
    xs = list(panel.curves["total"].getData()[0])
    assert xs[0] == 1 and xs[-1] == stopped_at + 2 and len(xs) == stopped_at + 2
    # ... and after a restart the past run shows its whole curve, and the model it made by name
    again = TrainingPanel()
    qtbot.addWidget(again)
    again.set_project(tp.project)
    again.runs.setCurrentItem(again.runs.topLevelItem(0))
    assert list(again.curves["total"].getData()[0]) == xs
    assert again.runs.topLevelItem(0).text(3) == version.name


def test_runs_that_cannot_start_say_why(qtbot, panel, tp, tmp_path):
    with pytest.raises(TrainJobError, match="choose a base model"):
        TrainJob(tp.project, {}).start()
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert panel.start({**settings(tp, 3), "base_checkpoint": str(bad), "base_model_id": None}) is None
    assert str(bad) in panel.log.toPlainText() and training_runs(tp.project) == []
    with pytest.raises(TrainJobError, match="only a cancelled or failed run"):
        TrainJob(tp.project).resume(start_training_run(tp.project, {}, status="running"))
    failed = start_training_run(tp.project, {"run_dir": str(tmp_path / "nowhere")}, status="failed")
    with pytest.raises(TrainJobError, match="last.pth: no checkpoint"):
        TrainJob(tp.project).resume(failed)
    json.dumps(settings(tp, 3))  # the settings the dialog hands over are JSON (stored in the run)


# -- process groups, start errors, runs of a project no longer shown ------------------------------


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            members.append(int(stat.parent.name))
    return members


def _alive(pid: int) -> bool:
    """Running (not ended, not a zombie waiting for a parent that may never reap it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return not _group_members(pgid)  # only zombies left, waiting for a parent that may never reap them


@pytest.mark.skipif(not new_session_supported() or not Path("/proc/self/stat").is_file(),
                    reason="needs QProcess.setUnixProcessParameters (Qt 6.6+) and /proc")
@pytest.mark.slow
def test_second_cancel_kills_torchrun_and_every_rank(qtbot, panel, tp, monkeypatch):
    """Two DDP ranks on the CPU (gloo) under torchrun, as on a 2-GPU machine: the command works, and
    a second Cancel leaves no process of the run behind (torchrun alone killed, ranks trained on)."""
    monkeypatch.setattr(train_job, "resolve_device", lambda device: ("cpu", "cpu (2 ranks)", 2))
    job = panel.start(settings(tp, 10_000, pseudo_labels=None))
    assert job is not None
    run = get_training_run(tp.project, job.run_id)
    assert run.config["command"] == train_command(2, job.run_dir, ["--init", str(tp.base_checkpoint)])
    with qtbot.waitSignal(job.progress, timeout=WAIT_MS):  # both ranks train (rank 0 reports)
        pass
    pgid = job.process_group()
    assert pgid == job.process_id() == os.getpgid(pgid) != os.getpgid(0)  # a group of its own
    tree = processes.process_tree(pgid)
    assert len(tree) >= 3  # torchrun and two ranks (each rank in a session of its own)
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        panel.cancel()
        job.cancel()  # the second request: kill
    qtbot.waitUntil(lambda: _group_gone(pgid) and not any(map(_alive, tree)), timeout=30_000)
    assert get_training_run(tp.project, run.id).status == "cancelled"
    assert "killing the training process group" in Path(run.log_path).read_text()
    assert panel.fine_tune_button.isEnabled() and panel.job() is None


def test_a_start_that_fails_on_a_file_leaves_the_panel_usable(qtbot, panel, tp, tmp_path):
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the runs folder should be")
    panel.runs_folder = blocker / "runs"
    assert panel.start(settings(tp, 3)) is None  # NotADirectoryError, not raised through the panel
    assert panel.job() is None and not panel.is_running()
    assert panel.fine_tune_button.isEnabled()
    log = panel.log.toPlainText()
    assert "Cannot start training" in log and str(blocker) in log
    assert not list(tmp_path.rglob(".new-*")) and training_runs(tp.project) == []


def test_a_launch_that_fails_after_the_log_opened_marks_the_run_failed(qtbot, panel, tp, monkeypatch):
    def broken_env(extra):
        raise OSError(28, "No space left on device", "/somewhere/env")

    monkeypatch.setattr(train_job, "_python_env", broken_env)
    assert panel.start(settings(tp, 3)) is None
    assert panel.job() is None and panel.fine_tune_button.isEnabled()
    (run,) = training_runs(tp.project)
    assert run.status == "failed" and "/somewhere/env: No space left on device" in run.metrics["error"]
    assert "/somewhere/env" in panel.log.toPlainText()
    log = Path(run.config["run_dir"], "train.log").read_text()
    assert "=== failed: cannot start training" in log
    with pytest.raises(TrainJobError, match="No space left"):  # the job itself says so too, log closed
        job = TrainJob(tp.project, settings(tp, 3))
        try:
            job.start()
        finally:
            assert job._log is None and not job.is_running()


def test_stop_ends_a_run_of_a_project_no_longer_shown(qtbot, panel, tp):
    job = panel.start(settings(tp, 10_000, pseudo_labels=None))
    with qtbot.waitSignal(job.progress, timeout=WAIT_MS):
        pass
    run_id, pid = job.run_id, job.process_id()
    panel.set_project(None)  # e.g. another project opened: the run goes on, not shown
    assert panel.job() is None and panel.detached_jobs() == [job] and job.is_running()
    assert panel.stop(WAIT_MS)
    assert not job.is_running() and panel.detached_jobs() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    run = get_training_run(tp.project, run_id)  # recorded in its own project by the job
    assert run.status == "cancelled", run.metrics
    assert run.metrics["resumable"] and (Path(run.config["run_dir"]) / "last.pth").is_file()
    assert f"Training run {run_id} of {tp.project.path} cancelled" in panel.log.toPlainText()
    assert "cancelled" not in panel.status_label.text()  # the panel's own slots were disconnected


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
@pytest.mark.slow
def test_cancel_stops_torchrun_ranks_cleanly_with_a_resumable_checkpoint(qtbot, panel, tp, monkeypatch):
    """One Cancel under torchrun: SIGTERM to torchrun only, which forwards it to each rank once (a
    rank signalled twice would stop at once); rank 0 writes last.pth and every process ends."""
    monkeypatch.setattr(train_job, "resolve_device", lambda device: ("cpu", "cpu (2 ranks)", 2))
    job = panel.start(settings(tp, 10_000, pseudo_labels=None))
    with qtbot.waitSignal(job.progress, timeout=WAIT_MS):
        pass
    tree = processes.process_tree(job.process_id())
    assert len(tree) >= 3
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        panel.cancel()
    qtbot.waitUntil(lambda: not any(map(_alive, tree)), timeout=30_000)
    run = get_training_run(tp.project, job.run_id)
    assert run.status == "cancelled" and run.metrics["resumable"], run.metrics
    assert torch.load(Path(run.config["run_dir"]) / "last.pth", weights_only=True)["training_state"]["iteration"] >= 1
