"""The application icon, loaded from the repository's ``resources/`` folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"
ICON_PATH = RESOURCES_DIR / "darkface-studio.svg"


def app_icon() -> QIcon | None:
    """The window icon, or ``None`` when the resources are not installed (an icon is optional)."""
    if not ICON_PATH.is_file():
        return None
    icon = QIcon(str(ICON_PATH))
    return None if icon.isNull() else icon
