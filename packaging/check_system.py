#!/usr/bin/env python3
"""Check that this machine can run DarkFace Studio, and say exactly what to install if not.

Run by ``make run`` / ``make test`` with the system Python before the virtual environment is
used. Standard library only. Two phases:

* ``--python``: Python >= 3.10 with the ``venv`` module (Debian splits it into ``python3-venv``).
* ``--qt VENV_PYTHON --platform offscreen|xcb``: after PySide6 is installed, ask the dynamic
  linker (``ldd``) which shared libraries Qt's platform plugin cannot find, map them to the
  Debian/Ubuntu packages that provide them, and check that at least one font is installed.

Exit status 0 when everything is present, 1 with an ``apt-get install`` line otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable

# Shared-library soname prefix -> Debian/Ubuntu package (names valid on Debian 12 / Ubuntu 22.04+).
DEBIAN_PACKAGES: dict[str, str] = {
    "libEGL.so": "libegl1",
    "libGL.so": "libgl1",
    "libGLX.so": "libglx0",
    "libGLdispatch.so": "libglvnd0",
    "libOpenGL.so": "libopengl0",
    "libxkbcommon.so": "libxkbcommon0",
    "libxkbcommon-x11.so": "libxkbcommon-x11-0",
    "libfontconfig.so": "libfontconfig1",
    "libfreetype.so": "libfreetype6",
    "libdbus-1.so": "libdbus-1-3",
    "libglib-2.0.so": "libglib2.0-0",
    "libgthread-2.0.so": "libglib2.0-0",
    "libX11.so": "libx11-6",
    "libX11-xcb.so": "libx11-xcb1",
    "libxcb.so": "libxcb1",
    "libxcb-cursor.so": "libxcb-cursor0",
    "libxcb-icccm.so": "libxcb-icccm4",
    "libxcb-image.so": "libxcb-image0",
    "libxcb-keysyms.so": "libxcb-keysyms1",
    "libxcb-randr.so": "libxcb-randr0",
    "libxcb-render-util.so": "libxcb-render-util0",
    "libxcb-render.so": "libxcb-render0",
    "libxcb-shape.so": "libxcb-shape0",
    "libxcb-shm.so": "libxcb-shm0",
    "libxcb-sync.so": "libxcb-sync1",
    "libxcb-util.so": "libxcb-util1",
    "libxcb-xfixes.so": "libxcb-xfixes0",
    "libxcb-xkb.so": "libxcb-xkb1",
    "libpng16.so": "libpng16-16",
    "libz.so": "zlib1g",
}
FONT_PACKAGE = "fonts-dejavu-core"


def package_for(soname: str) -> str | None:
    """The Debian package providing ``soname`` (e.g. ``libEGL.so.1`` -> ``libegl1``), if known."""
    base = soname.split(".so")[0] + ".so"
    return DEBIAN_PACKAGES.get(base)


def missing_libraries(ldd_output: str) -> list[str]:
    """Sonames that ``ldd`` reports as ``not found``."""
    missing = []
    for line in ldd_output.splitlines():
        if "=> not found" in line:
            missing.append(line.split("=>")[0].strip())
    return sorted(set(missing))


def advice(missing: Iterable[str], fonts_missing: bool) -> str:
    """The message for missing libraries: one apt-get line, plus libraries with no known package."""
    packages = sorted({p for p in (package_for(s) for s in missing) if p})
    unknown = sorted(s for s in missing if package_for(s) is None)
    if fonts_missing:
        packages.append(FONT_PACKAGE)
    lines = []
    if packages:
        lines.append("Qt needs system packages that are missing. Install them with:")
        lines.append(f"    sudo apt-get install -y {' '.join(packages)}")
    if unknown:
        lines.append("Also missing (find the package with `apt-file search NAME`): " + ", ".join(unknown))
    return "\n".join(lines)


def check_python() -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 - run by any python3, to say that it is too old
        print(f"DarkFace Studio needs Python >= 3.10; this is {sys.version.split()[0]} ({sys.executable}).")
        print("Install a newer Python (e.g. `sudo apt-get install -y python3.11 python3.11-venv`) and run:")
        print("    make PYTHON=python3.11 ...")
        return 1
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        v = f"{sys.version_info.major}.{sys.version_info.minor}"
        print(f"Python's venv module is missing. Install it with:\n    sudo apt-get install -y python{v}-venv")
        return 1
    return 0


def plugin_path(venv_python: str, platform: str) -> str:
    """Path of Qt's platform plugin inside the virtual environment (asks PySide6 where it lives)."""
    code = (
        "import os, PySide6; print(os.path.join(os.path.dirname(PySide6.__file__), "
        f"'Qt', 'plugins', 'platforms', 'libq{platform}.so'))"
    )
    return subprocess.run([venv_python, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def run_ldd(path: str) -> str:
    return subprocess.run(["ldd", path], capture_output=True, text=True).stdout


def fonts_installed() -> bool:
    if shutil.which("fc-list") is None:
        return os.path.isdir("/usr/share/fonts") and any(os.scandir("/usr/share/fonts"))
    out = subprocess.run(["fc-list"], capture_output=True, text=True).stdout
    return bool(out.strip())


def check_qt(
    venv_python: str,
    platform: str,
    ldd: Callable[[str], str] = run_ldd,
    has_fonts: Callable[[], bool] = fonts_installed,
) -> int:
    if not sys.platform.startswith("linux"):
        return 0  # wheels on Windows and macOS bundle what Qt needs
    plugin = plugin_path(venv_python, platform)
    if not os.path.exists(plugin):
        print(f"Qt platform plugin not found: {plugin} (is PySide6-Essentials installed?)")
        return 1
    missing = missing_libraries(ldd(plugin))
    fonts_missing = not has_fonts()
    if missing or fonts_missing:
        print(advice(missing, fonts_missing))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="store_true", help="check the Python version and venv module")
    parser.add_argument("--qt", metavar="VENV_PYTHON", help="check Qt's system libraries for this environment")
    parser.add_argument("--platform", default="xcb", choices=["xcb", "offscreen"])
    args = parser.parse_args(argv)
    status = 0
    if args.python:
        status |= check_python()
    if args.qt:
        status |= check_qt(args.qt, args.platform)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
