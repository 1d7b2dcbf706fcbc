"""``darkface-studio --selftest``: every check passes here, in-process and as a command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import selftest

REPO = Path(__file__).resolve().parents[1]
CHECK_NAMES = ["python", "qt", "torch", "opencv", "project", "forward", "msrcr"]


def test_every_check_passes_in_process(qapp) -> None:
    ok, lines = selftest.run_selftest()
    assert ok, "\n".join(lines)
    checks = lines[1:-1]
    assert [line.split()[1] for line in checks] == CHECK_NAMES
    assert all(line.startswith("OK ") for line in checks), "\n".join(lines)
    assert lines[-1] == f"{len(CHECK_NAMES)} of {len(CHECK_NAMES)} checks passed"
    by_name = {line.split()[1]: line for line in checks}
    assert f"platform plugin '{qapp.platformName()}'" in by_name["qt"]
    assert "app icon" in by_name["qt"]
    assert "CUDA" in by_name["torch"] and "MPS" in by_name["torch"] and "using " in by_name["torch"]
    assert "schema " in by_name["project"]
    assert "demo model (resnet18, width 64, demo-srn-r18.pth)" in by_name["forward"]


def test_a_failing_check_is_reported_and_fails_the_run(monkeypatch) -> None:
    def broken() -> str:
        raise ImportError("No module named 'cv2'")

    def wrong() -> str:
        raise selftest.CheckFailed("the numbers are off")

    monkeypatch.setattr(selftest, "CHECKS", [("opencv", broken), ("msrcr", wrong), ("python", selftest.check_python)])
    printed = []
    ok, lines = selftest.run_selftest(printed.append)
    assert not ok
    assert printed == lines
    assert lines[1].startswith("FAIL  opencv") and "ImportError: No module named 'cv2'" in lines[1]
    assert lines[2].startswith("FAIL  msrcr") and "the numbers are off" in lines[2]
    assert lines[3].startswith("OK    python")
    assert lines[-1] == "1 of 3 checks passed; failed: opencv, msrcr"


def _run_main(tmp_path: Path, env_update: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "DARKFACE_DATA_DIR": str(tmp_path / "data"), **env_update}
    return subprocess.run([sys.executable, str(REPO / "main.py"), "--selftest"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_main_py_selftest_runs_offscreen_and_exits_0(tmp_path: Path) -> None:
    result = _run_main(tmp_path, {"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("DarkFace Studio ")
    assert [line.split()[0] for line in lines[1:-1]] == ["OK"] * len(CHECK_NAMES)
    assert "platform plugin 'offscreen'" in result.stdout  # Qt started in the child process
    assert lines[-1] == f"{len(CHECK_NAMES)} of {len(CHECK_NAMES)} checks passed"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists() and [p.name for p in tmp_path.iterdir()] == []  # nothing left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin without a display is Linux-only")
@pytest.mark.slow
def test_a_qt_that_cannot_start_is_a_fail_line_not_a_crash(tmp_path: Path) -> None:
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99999"}  # no such X server: Qt would abort the process
    result = _run_main(tmp_path, env)
    assert result.returncode == 1, result.stdout + result.stderr
    qt_line = next(line for line in result.stdout.splitlines() if line.split()[1:2] == ["qt"])
    assert qt_line.startswith("FAIL  qt") and "Qt could not start with platform 'xcb'" in qt_line
    assert "OK    torch" in result.stdout  # the other checks still ran
    assert result.stdout.splitlines()[-1].endswith("failed: qt")
