"""The entry point: --version, argument errors, and a real launch of main.py in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import srn
from app.main import NO_DISPLAY, main, missing_display
from app.sample_project import SAMPLE_NAME

REPO = Path(__file__).resolve().parents[1]


def test_version_is_printed(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"darkface-studio {srn.__version__}\n"


def test_a_folder_that_does_not_exist_is_an_argument_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-sample", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert f"not a folder: {tmp_path / 'missing'}" in capsys.readouterr().err


def _launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DARKFACE_QUIT_AFTER_MS": "500",
        "DARKFACE_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # QSettings of the launched app
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )


def test_main_py_opens_a_folder_and_quits_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "night"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "1.png"), np.zeros((40, 60, 3), np.uint8))
    (folder / "2.png").write_bytes(b"not a png")  # bad input must not break the launch
    result = _launch(tmp_path, "--no-sample", str(folder))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # --no-sample: nothing generated
    if sys.platform.startswith("linux"):  # where XDG_CONFIG_HOME decides where QSettings go
        assert (tmp_path / "config" / "DarkFace" / "DarkFace Studio.conf").is_file()  # geometry saved


def test_closing_during_sample_generation_exits_cleanly(tmp_path: Path) -> None:
    result = _launch(tmp_path)  # no folder: the 24-image sample starts; the window closes first
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = tmp_path / "data"
    assert data.is_dir()  # generation had started
    assert not (data / SAMPLE_NAME).exists()  # cancelled: nothing that looks like a sample
    assert not (data / f".{SAMPLE_NAME}.partial").exists()


def test_without_a_display_one_clear_line_instead_of_a_qt_abort(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Windows and macOS always have a display")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env["DARKFACE_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run([sys.executable, str(REPO / "main.py")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == f"darkface-studio: {NO_DISPLAY}\n"
    assert "libxcb" not in result.stderr and not (tmp_path / "data").exists()


@pytest.mark.parametrize(("environ", "platform", "problem"), [
    ({}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "wayland"}, "linux", True),
    ({"DISPLAY": ":0"}, "linux", False),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({}, "win32", False),
    ({}, "darwin", False),
])
def test_missing_display_is_only_claimed_where_a_window_needs_one(environ, platform, problem) -> None:
    assert (missing_display(environ, platform) == NO_DISPLAY) is problem


def test_ctrl_c_in_the_terminal_closes_the_app_with_its_project_intact(tmp_path: Path) -> None:
    """SIGINT while the event loop idles: the window closes as its close button does, within 5 s."""
    import signal
    import sqlite3
    import time

    folder = tmp_path / "night"
    folder.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 60, 3), 10 * i, np.uint8))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "DARKFACE_DATA_DIR": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--no-sample", str(folder)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = folder / ".darkface-studio" / "project.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (sys.platform.startswith("linux") and db.is_file()):
        time.sleep(0.2)
    time.sleep(2.0)  # the folder is imported and the loop idles
    assert proc.poll() is None, proc.communicate()[1]
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the app did not quit within 5 s of Ctrl+C") from None
    assert time.monotonic() - sent < 5
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM image").fetchone()[0] == 3
