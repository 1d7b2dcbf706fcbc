"""The ML core stays headless: ``srn`` never pulls in Qt, SQLAlchemy or the app."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import srn

FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph", "sqlalchemy", "alembic", "app")
SRN_ROOT = Path(srn.__file__).parent


def test_importing_every_srn_module_loads_no_gui_or_database():
    modules = sorted(m.name for m in pkgutil.walk_packages([str(SRN_ROOT)], prefix="srn.") if m.name != "srn.__main__")
    assert "srn.data.synth" in modules and "srn.cli" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"srn imported {out.stdout.strip()}"


def test_no_srn_source_file_imports_gui_or_database():
    offenders = []
    for path in SRN_ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path}:{node.lineno}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
