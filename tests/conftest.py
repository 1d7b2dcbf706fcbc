"""Test-suite wide settings: no display is needed anywhere (Qt runs offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
