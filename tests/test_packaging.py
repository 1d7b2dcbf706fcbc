"""The wheel: it builds, it holds the package data, and once installed it passes the self-test.

The wheel is built offline (``python -m build --wheel --no-isolation``, with the build tools of the
test extra) from a copy of the source tree, so the checkout gets no ``build/`` or ``*.egg-info``.
It is installed (``--no-deps``) into a fresh virtual environment that reuses this environment's
packages (torch, PySide6, ...) through a ``.pth`` file, and ``darkface-studio --selftest`` runs
from a folder outside the checkout: what runs is the installed wheel, not the source tree.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import srn

REPO = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis",
    "tests", "benchmarks", "docs", "shared", "*.db", "*.db-*",
)


def _build_wheel(tmp: Path) -> Path:
    pytest.importorskip("build", reason="the test extra's `build` is not installed (pip install -e '.[test]')")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)
    out = tmp / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list(out.glob("darkface_studio-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_code_migrations_and_resources(wheel: Path) -> None:
    assert wheel.name.startswith(f"darkface_studio-{srn.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = REPO / "app" / "store" / "migrations"
    expected = {
        "app/main.py", "app/selftest.py", "srn/cli.py", "app/store/migrations/script.py.mako",
        "darkface_resources/__init__.py", "darkface_resources/darkface-studio.svg",
        "darkface_resources/models/demo-srn-r18.pth", "darkface_resources/models/README.md",
        *(f"darkface_resources/enhance/sci/{n}" for n in ("difficult.pt", "medium.pt", "easy.pt", "LICENSE",
                                                          "SHA256SUMS", "README.md")),
        *(p.relative_to(REPO).as_posix() for p in migrations.rglob("*.py")),
        *(f"darkface_resources/icons/{p.name}" for p in (REPO / "resources" / "icons").glob("*.png")),
    }
    assert any(n.startswith("app/store/migrations/versions/0001") for n in expected)
    assert any(n.startswith("darkface_resources/icons/darkface-studio-") for n in expected)
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "darkface-studio = app.main:main" in text
    assert "srn = srn.cli:main" in text


def _site_dirs() -> list[str]:
    """This environment's site-packages folders (where torch, PySide6, ... are installed)."""
    dirs = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    seen = []
    for d in dirs:
        if d not in seen and Path(d).is_dir() and Path(d).resolve() != REPO:
            seen.append(d)
    return seen


def _venv_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.mark.slow
def test_the_installed_wheel_passes_the_selftest_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = _venv_python(env_dir)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Reuse this environment's packages: listed after the new venv's own site-packages, so the
    # wheel installed there wins over anything (an editable install of the checkout) found here.
    Path(purelib, "zz_test_environment.pth").write_text("\n".join(_site_dirs()) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               DARKFACE_DATA_DIR=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    run = tmp_path / "elsewhere"
    run.mkdir()

    install = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--no-compile",
         "--quiet", str(wheel)],
        cwd=run, env=env, capture_output=True, text=True, timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    where = subprocess.run([str(py), "-c", "import app, srn; print(app.__file__); print(srn.__file__)"],
                           cwd=run, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(Path(purelib).resolve()), where.stdout
        assert not Path(line).resolve().is_relative_to(REPO), where.stdout

    scripts = Path(sysconfig.get_path("scripts", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    exe = scripts / ("darkface-studio.exe" if os.name == "nt" else "darkface-studio")
    assert exe.is_file(), sorted(p.name for p in scripts.iterdir())
    version = subprocess.run([str(exe), "--version"], cwd=run, env=env, capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"darkface-studio {srn.__version__}", version.stderr

    result = subprocess.run([str(exe), "--selftest"], cwd=run, env=env, capture_output=True, text=True, timeout=180)
    report = result.stdout
    assert result.returncode == 0, report + result.stderr
    assert "7 of 7 checks passed" in report, report
    assert f"from {Path(purelib).resolve() / 'app'}" in report, report  # the installed package ran
    assert "platform plugin 'offscreen'" in report, report
    assert "app icon" in report, report
    assert not (run / ".darkface-studio").exists() and not list(run.iterdir())  # it left nothing behind

    srn_exe = exe.with_name("srn.exe" if os.name == "nt" else "srn")
    help_text = subprocess.run([str(srn_exe), "--help"], cwd=run, env=env, capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and "train" in help_text.stdout, help_text.stderr
