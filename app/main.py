"""Entry point of the desktop app (``darkface-studio`` / ``python main.py``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import srn

APP_NAME = "DarkFace Studio"
ORG_NAME = "DarkFace"
QUIT_AFTER_ENV = "DARKFACE_QUIT_AFTER_MS"
"""Close the window after this many milliseconds: lets smoke tests launch the real app."""
SELFTEST_QT_PROBE = "--selftest-qt-probe"  # app.selftest.QT_PROBE_FLAG, kept here so main stays light


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="darkface-studio",
        description="Review face detections on night-time images.",
        epilog="darkface-studio project COMMAND ... manages a project database without the window "
               "(init, import-images, import-labels, export, stats); see darkface-studio project --help. "
               "darkface-studio srn COMMAND ... is the ML command line (the same as srn / python -m srn). "
               "To open a folder that is literally named project or srn, write ./project or ./srn.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="check this installation (Qt, torch and its GPU, OpenCV, a temporary project, a tiny "
             "detection, MSRCR), print a report and exit: 0 when every check passes, 1 otherwise",
    )
    parser.add_argument("folder", nargs="?", type=Path, help="a folder of images to open")
    parser.add_argument(
        "--no-sample",
        action="store_true",
        help="do not generate or open the sample project when no folder is given",
    )
    return parser


NO_DISPLAY = "no display: set DISPLAY, or use QT_QPA_PLATFORM=offscreen for the self-test"


def missing_display(environ=None, platform: str | None = None) -> str | None:
    """Why a window cannot open here, or ``None``: on Linux, a windowing platform (Qt's default
    xcb, or wayland) with neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` set. Without this check Qt
    aborts with advice about libxcb-cursor0, which is not the problem."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith(("xcb", "wayland")):  # offscreen, vnc, eglfs, ... need no display
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def _quit_after_ms(parser: argparse.ArgumentParser) -> int | None:
    value = os.environ.get(QUIT_AFTER_ENV)
    if not value:
        return None
    try:
        ms = int(value)
    except ValueError:
        parser.error(f"{QUIT_AFTER_ENV} must be a number of milliseconds, not {value!r}")
    return max(ms, 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, show the main window and run the event loop; returns the exit code.

    ``darkface-studio project ...`` goes to the store's command line instead, before any Qt import.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "project":
        from app.store.cli import main as project_main

        return project_main(argv[1:])
    if argv and argv[0] == "srn":  # the ML command line, also inside a frozen app (no python -m there)
        from srn.cli import main as srn_main

        return srn_main(argv[1:])
    if argv == [SELFTEST_QT_PROBE]:  # the self-test's child process (hidden; see app.selftest)
        from app.selftest import qt_probe_main

        return qt_probe_main()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"darkface-studio {srn.__version__}")
        return 0
    if args.selftest:
        from app.selftest import main as selftest_main

        return selftest_main()
    if args.folder is not None and not args.folder.is_dir():
        parser.error(f"not a folder: {args.folder}")
    quit_after = _quit_after_ms(parser)
    problem = missing_display()
    if problem:
        print(f"darkface-studio: {problem}", file=sys.stderr)
        return 2

    # Qt is imported only now so that --version and argument errors stay instant.
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.sample_project import data_dir
    from app.ui.app_icon import app_icon
    from app.ui.review_window import ReviewWindow

    QApplication.setApplicationName(APP_NAME)
    QApplication.setOrganizationName(ORG_NAME)
    QApplication.setApplicationVersion(srn.__version__)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "darkface-studio"])
    icon = app_icon()
    if icon is not None:
        app.setWindowIcon(icon)

    window = ReviewWindow()
    app.aboutToQuit.connect(window.stop_jobs)
    from app.ui.interrupt import InterruptCloser

    closer = InterruptCloser(window)  # Ctrl+C in the terminal closes the window
    app.aboutToQuit.connect(closer.uninstall)
    window.show_on_screen()
    if args.folder is not None:
        window.open_folder(args.folder)
    elif not args.no_sample:
        window.start_sample_project(data_dir())
    if quit_after is not None:
        QTimer.singleShot(quit_after, window.close)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
