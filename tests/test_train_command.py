"""The ``srn train`` command line a fine-tuning run starts: one process, DDP under torchrun, frozen app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import srn
from app.jobs import processes, train_job
from app.jobs.train_job import train_command

EXTRA = ["--init", "/models/base.pth"]


def _train_args(run_dir: Path) -> list[str]:
    return ["train", "--out", str(run_dir), "--config", str(run_dir / "config.json"), *EXTRA]


def test_one_process_runs_srn_as_a_module(tmp_path):
    assert train_command(1, tmp_path, EXTRA, frozen=False) == [sys.executable, "-m", "srn", *_train_args(tmp_path)]


def test_several_processes_run_srn_as_a_module_under_torchrun(tmp_path):
    command = train_command(2, tmp_path, EXTRA, frozen=False)
    assert command == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       "-m", "srn", *_train_args(tmp_path)]  # "-m srn": srn is a module, not a script file


def test_a_frozen_app_runs_one_process_of_itself(tmp_path, monkeypatch):
    expected = [sys.executable, "srn", *_train_args(tmp_path)]
    assert train_command(1, tmp_path, EXTRA, frozen=True) == expected
    assert train_command(4, tmp_path, EXTRA, frozen=True) == expected  # no torch.distributed.run in a frozen app
    monkeypatch.setattr(train_job.sys, "frozen", True, raising=False)  # the default follows sys.frozen
    assert train_command(2, tmp_path, EXTRA) == expected


def test_torchrun_accepts_the_ddp_prefix(tmp_path):
    """The prefix of the several-process command, really run (one CPU process): torchrun starts
    ``-m srn`` as a module and its ``--version`` answers."""
    command = train_command(2, tmp_path, EXTRA, frozen=False)
    prefix = command[:command.index("train")]
    prefix[prefix.index("--nproc_per_node") + 1] = "1"
    env = dict(os.environ, PYTHONPATH=str(Path(srn.__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    done = subprocess.run([*prefix, "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"srn {srn.__version__}"


@pytest.mark.parametrize("procs", [1, 3])
def test_the_run_folder_may_be_a_string(tmp_path, procs):
    assert train_command(procs, str(tmp_path), [], frozen=False)[-4:] == [
        "--out", str(tmp_path), "--config", str(tmp_path / "config.json")]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (its parent may never reap it)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
def test_kill_process_tree_reaches_descendants_in_sessions_of_their_own():
    """As torchrun starts its ranks (``start_new_session=True``): killing the process group of the
    launcher would leave them running; the tree is killed whole."""
    code = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(120)\n")
    launcher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
    rank = None
    try:
        rank = int(launcher.stdout.readline())
        assert os.getsid(rank) == rank != os.getsid(launcher.pid)
        assert set(processes.process_tree(launcher.pid)) == {launcher.pid, rank}
        assert set(processes.kill_process_tree(launcher.pid)) == {launcher.pid, rank}
        launcher.wait(60)
        for _ in range(200):  # SIGKILL is delivered asynchronously: until the kernel has ended it
            if not _running(rank):
                break
            time.sleep(0.05)
        assert not _running(rank)
    finally:
        for pid in (launcher.pid, rank):
            if pid is not None and _running(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.stdout.close()
        launcher.wait()
