"""The one error type every parser raises, so callers can show ``file:line: message``."""

from __future__ import annotations

import os
from pathlib import Path


class FormatError(ValueError):
    """A malformed annotation file. ``str()`` reads ``path:line: message`` like a compiler error."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")
