"""The application icon, shipped in the top-level ``resources/`` folder (``darkface_resources``).

The resources are package data, so they are found the same way in a source checkout, an
installed wheel and a PyInstaller bundle.
"""

from __future__ import annotations

from pathlib import Path

import darkface_resources
from PySide6.QtGui import QIcon

RESOURCES_DIR = darkface_resources.ROOT
ICON_PATH = RESOURCES_DIR / "darkface-studio.svg"
ICONS_DIR = RESOURCES_DIR / "icons"
"""PNG renderings of the SVG (``darkface-studio-<N>.png``), made by ``packaging/render_icons.py``."""


def icon_files() -> list[Path]:
    """The icon files that exist: the SVG, then the PNG sizes (smallest first)."""
    pngs = sorted(ICONS_DIR.glob("darkface-studio-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[-1]))
    return ([ICON_PATH] if ICON_PATH.is_file() else []) + pngs


def app_icon() -> QIcon | None:
    """The window icon, or ``None`` when the resources are not installed (an icon is optional).

    The PNG sizes are added as well, so the icon also shows where Qt's SVG plugin is missing.
    """
    files = icon_files()
    if not files:
        return None
    icon = QIcon()
    for path in files:
        icon.addFile(str(path))
    return None if icon.isNull() else icon
