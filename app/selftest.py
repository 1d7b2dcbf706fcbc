"""``darkface-studio --selftest``: check that this installation works, and say what does not.

Each check prints one line, ``OK`` or ``FAIL``, its name and what it found::

    OK    python     3.11.7 (/opt/venv/bin/python), darkface-studio 0.1.0 from /opt/venv/lib/.../app
    OK    qt         platform plugin 'xcb', PySide6 6.11.3, Qt 6.11.3; app icon (9 files)
    OK    torch      2.5.1+cpu; CUDA not available; MPS not available; using cpu (2 threads)
    ...

The checks need no network, no display of their own choosing (the Qt check uses whatever
platform plugin the app would use, ``QT_QPA_PLATFORM`` included) and leave nothing behind. The
Qt check runs in a child process when no Qt application exists yet, because Qt aborts the
whole process when its platform plugin cannot be loaded; that way the report still comes out.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import srn

QT_PROBE_FLAG = "--selftest-qt-probe"
"""Hidden argument of ``darkface-studio``: start Qt, print a JSON line about it, exit."""
QT_PROBE_TIMEOUT_S = 60


class CheckFailed(Exception):
    """A check that ran but found something wrong; the message is the report's detail."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{'OK' if self.ok else 'FAIL':<5} {self.name:<10} {self.detail} [{self.seconds:.1f} s]"


# -- the checks: each returns its detail text, or raises --------------------------------------------


def check_python() -> str:
    import app

    return (f"{platform.python_version()} ({sys.executable}), darkface-studio {srn.__version__} "
            f"from {Path(app.__file__).resolve().parent}")


def qt_probe() -> dict:
    """Start (or reuse) the Qt application and describe it; used in-process and by the child."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "darkface-studio"])
    from app.ui.app_icon import app_icon, icon_files

    icon = app_icon()
    icon_ok = icon is not None and not icon.pixmap(32, 32).isNull()
    return {
        "platform": app.platformName(),
        "pyside": pyside_version,
        "qt": qVersion(),
        "icon_files": len(icon_files()),
        "icon_ok": icon_ok,
    }


def qt_probe_main() -> int:
    """The child process of the Qt check: one JSON line on stdout."""
    print(json.dumps(qt_probe()), flush=True)
    return 0


def _qt_probe_command() -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the executable is the app itself
        return [sys.executable, QT_PROBE_FLAG], env
    # The child must import this same ``app`` package, wherever it came from.
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-c", f"import sys; from app.main import main; sys.exit(main([{QT_PROBE_FLAG!r}]))"], env


def _describe_qt(info: dict, where: str) -> str:
    if not info["icon_ok"]:
        raise CheckFailed(f"platform plugin {info['platform']!r} works ({where}), but the app icon did not load "
                          f"({info['icon_files']} icon files in resources/): the package data is missing")
    return (f"platform plugin {info['platform']!r}, PySide6 {info['pyside']}, Qt {info['qt']}; "
            f"app icon ({info['icon_files']} files)")


def check_qt() -> str:
    from PySide6.QtCore import QCoreApplication

    if QCoreApplication.instance() is not None:
        return _describe_qt(qt_probe(), "in this process")
    command, env = _qt_probe_command()
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=QT_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"starting Qt took more than {QT_PROBE_TIMEOUT_S} s") from None
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode == 0 and lines:
        return _describe_qt(json.loads(lines[-1]), "in a child process")
    errors = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    tail = " | ".join(errors[-3:]) or f"exit status {result.returncode}"
    hint = ""
    requested = env.get("QT_QPA_PLATFORM", "")
    if requested != "offscreen" and sys.platform.startswith("linux") and not (
            env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        hint = (" (no display here: run with QT_QPA_PLATFORM=offscreen to check everything else; "
                "for a window, missing system libraries are listed by packaging/check_system.py)")
    raise CheckFailed(f"Qt could not start with platform {requested or 'default'!r}: {tail}{hint}")


def check_torch() -> str:
    import torch

    from srn.engine.device import describe, pick_device

    parts = [torch.__version__]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        parts.append(f"CUDA {torch.version.cuda} available: {', '.join(names)}")
    else:
        built = f" (built for CUDA {torch.version.cuda})" if torch.version.cuda else " (CPU-only build)"
        parts.append(f"CUDA not available{built}")
    mps = getattr(torch.backends, "mps", None)
    parts.append("MPS available" if mps is not None and mps.is_available() else "MPS not available")
    parts.append(f"using {describe(pick_device())}")
    return "; ".join(parts)


def check_opencv() -> str:
    import cv2
    import numpy as np

    image = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise CheckFailed(f"OpenCV {cv2.__version__} could not encode a PNG")
    back = cv2.imdecode(png, cv2.IMREAD_UNCHANGED)
    if back is None or not np.array_equal(back, image):
        raise CheckFailed(f"OpenCV {cv2.__version__}: a PNG did not decode to the same pixels")
    return f"{cv2.__version__}, PNG round trip"


def check_project() -> str:
    import cv2
    import numpy as np

    from app.store import Project, import_images
    from app.store.schema import head_revision

    with tempfile.TemporaryDirectory(prefix="darkface-selftest-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        if not cv2.imwrite(str(folder / "night.png"), np.full((40, 60, 3), 20, np.uint8)):
            raise CheckFailed("could not write a test image")
        db = Path(tmp) / "selftest.db"
        with Project.create(db, author="selftest") as project:
            report = import_images(project, folder)
            project.set_setting("selftest", {"ok": True})
        if report.added != 1:
            raise CheckFailed(f"importing one image: {report.summary()}")
        with Project.open(db, author="selftest") as project:  # reopen: the schema check runs again
            revision = project.schema_report.after
            value = project.get_setting("selftest")
            journal = "n/a"
            if project.is_sqlite:
                with project.engine.connect() as conn:
                    journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if value != {"ok": True}:
            raise CheckFailed(f"a setting did not survive reopening the project (got {value!r})")
        if revision != head_revision():
            raise CheckFailed(f"schema revision {revision}, expected {head_revision()}")
    return f"created, imported 1 image, reopened in a temporary folder; schema {revision}, journal {journal}"


def check_forward() -> str:
    """The shipped demo model loads (``weights_only``) and detects: also proves the package data is there."""
    import numpy as np
    import torch

    from srn.engine.detector import Detector
    from srn.engine.shipped_models import demo_model_path

    try:
        path = demo_model_path()
    except FileNotFoundError as exc:
        raise CheckFailed(str(exc)) from None
    detector = Detector.from_checkpoint(path)  # the best device here, as the app does
    image = np.random.default_rng(0).integers(0, 256, (128, 160, 3), dtype=np.uint8)
    start = time.perf_counter()
    detections = detector.detect(image)[0]
    ms = (time.perf_counter() - start) * 1000
    boxes = detections.boxes
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not torch.isfinite(boxes).all():
        raise CheckFailed(f"unexpected detection boxes {tuple(boxes.shape)}")
    config = detector.config
    return (f"demo model ({config.backbone}, width {config.channels}, {path.name}) on {detector.device_name}: "
            f"160×128 image, {len(boxes)} boxes, {ms:.0f} ms")


def check_msrcr() -> str:
    import numpy as np

    from srn.enhance import MSRCRParams, enhance

    rng = np.random.default_rng(0)
    night = (rng.random((120, 160, 3)) * 40).astype(np.uint8)  # dark, noisy
    out = enhance(night, MSRCRParams())
    if out.shape != night.shape or out.dtype != np.uint8:
        raise CheckFailed(f"MSRCR returned {out.dtype} {out.shape} for uint8 {night.shape}")
    if not out.mean() > night.mean():
        raise CheckFailed(f"MSRCR did not brighten a dark image (mean {night.mean():.1f} -> {out.mean():.1f})")
    return f"160×120 night image, mean brightness {night.mean():.1f} -> {out.mean():.1f}"


CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("python", check_python),
    ("qt", check_qt),
    ("torch", check_torch),
    ("opencv", check_opencv),
    ("project", check_project),
    ("forward", check_forward),
    ("msrcr", check_msrcr),
]


def run_check(name: str, check: Callable[[], str]) -> CheckResult:
    start = time.perf_counter()
    try:
        detail, ok = check(), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except Exception as exc:  # an installation problem: name it, with where it happened
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        detail, ok = f"{type(exc).__name__}: {exc} ({Path(frame.filename).name}:{frame.lineno})", False
    return CheckResult(name, ok, detail, time.perf_counter() - start)


def run_selftest(print_line: Callable[[str], None] | None = None) -> tuple[bool, list[str]]:
    """Run every check; returns ``(all passed, report lines)``. ``print_line`` sees each line as it comes."""
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        if print_line is not None:
            print_line(line)

    emit(f"DarkFace Studio {srn.__version__} self-test ({platform.platform()})")
    results = []
    for name, check in CHECKS:
        result = run_check(name, check)
        results.append(result)
        emit(result.line())
    failed = [r.name for r in results if not r.ok]
    emit(f"{len(results) - len(failed)} of {len(results)} checks passed" +
         (f"; failed: {', '.join(failed)}" if failed else ""))
    return not failed, lines


def main() -> int:
    ok, _ = run_selftest(lambda line: print(line, flush=True))
    return 0 if ok else 1
