"""``packaging/check_system.py`` tells a user exactly which Debian packages Qt is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "packaging" / "check_system.py"
spec = importlib.util.spec_from_file_location("check_system", SCRIPT)
check_system = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_system)

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibEGL.so.1 => not found
\tlibxkbcommon.so.0 => /lib/x86_64-linux-gnu/libxkbcommon.so.0 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibweird.so.3 => not found
\tlibEGL.so.1 => not found
"""


def test_missing_libraries_are_read_from_ldd_output():
    assert check_system.missing_libraries(LDD_MISSING) == ["libEGL.so.1", "libweird.so.3", "libxcb-cursor.so.0"]


def test_advice_names_exact_packages_and_unknown_libraries():
    text = check_system.advice(check_system.missing_libraries(LDD_MISSING), fonts_missing=True)
    assert "sudo apt-get install -y fonts-dejavu-core libegl1 libxcb-cursor0" not in text  # sorted, fonts last
    assert "sudo apt-get install -y libegl1 libxcb-cursor0 fonts-dejavu-core" in text
    assert "libweird.so.3" in text


def test_check_qt_with_a_broken_system_fails_with_advice(capsys):
    status = check_system.check_qt(sys.executable, "offscreen", ldd=lambda _: LDD_MISSING, has_fonts=lambda: True)
    assert status == 1
    assert "libegl1 libxcb-cursor0" in capsys.readouterr().out


def test_check_qt_on_this_environment_passes_for_offscreen():
    """The suite itself runs offscreen, so this machine must have what that plugin needs."""
    assert check_system.check_qt(sys.executable, "offscreen") == 0


def test_script_runs_standalone_and_checks_python():
    done = subprocess.run([sys.executable, str(SCRIPT), "--python"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("soname,package", [("libGL.so.1", "libgl1"), ("libxcb-icccm.so.4", "libxcb-icccm4")])
def test_package_mapping(soname, package):
    assert check_system.package_for(soname) == package


def test_the_makefile_pins_torch_as_pyproject_does():
    """``make ... TORCH_INDEX=...`` installs torch first; with other pins pip would replace it."""
    import re

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    repo = Path(__file__).resolve().parents[1]
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {d.split(">")[0]: d for d in deps if d.startswith(("torch>", "torchvision>"))}
    line = next(ln for ln in (repo / "Makefile").read_text().splitlines() if ln.startswith("TORCH_PINS"))
    assert dict((p.split(">")[0], p) for p in re.findall(r"'([^']+)'", line)) == wanted
