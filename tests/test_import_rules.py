"""The layers are mechanical: the import-linter contracts in ``pyproject.toml`` hold.

``srn`` pulls in no Qt, SQLAlchemy or ``app``; ``app.store`` no Qt, jobs or windows; the windows
and jobs reach the store only through its service API; ``app.ui`` > ``app.jobs`` > ``app.store``;
``srn.model`` does not depend on ``srn.engine``. A contract that breaks names the import chain.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is not installed (it is in the test extra: make setup)")
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "Contracts: 5 kept, 0 broken." in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0


def test_a_broken_contract_is_caught(tmp_path):
    """The check can fail: a copy of the tree with ``srn`` importing the app breaks a contract."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is not installed (it is in the test extra: make setup)")
    for name in ("srn", "app"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "srn" / "sneaky.py").write_text("from app.store import Project\n")
    done = subprocess.run([lint, "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": str(Path(sys.executable).parent)})
    assert done.returncode != 0 and "srn.sneaky -> app.store" in done.stdout, done.stdout[-3000:]
