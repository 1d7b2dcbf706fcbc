"""Shared helpers for strict, line-numbered parsing of whitespace-separated number files.

Parsing stays in plain Python (``str.split`` + ``float``) per line and builds numpy arrays once per
file or image: a numpy call per line would dominate the time of the large ground-truth files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from srn.formats.errors import FormatError

MAX_COORDINATE = 1e7
"""The largest coordinate or size a label may hold (images are at most a few 100,000 px): a
value like ``1e308`` is finite but overflows to infinity as soon as a width is added to it."""
MAX_ATTRIBUTE = 2**31 - 1
"""Integer attributes are int32, as in the official WIDER FACE ``.mat`` files."""


def parse_numbers(path: Path, lineno: int, text: str, count: int, what: str) -> list[float]:
    """Parse exactly ``count`` finite numbers from one line, or raise a ``FormatError`` saying what was found."""
    fields = text.split()
    if len(fields) != count:
        raise FormatError(path, lineno, f"expected {count} numbers ({what}), found {len(fields)}: {text.strip()!r}")
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise FormatError(path, lineno, f"expected numbers ({what}), found {text.strip()!r}") from None
    if not all(map(math.isfinite, values)):
        raise FormatError(path, lineno, f"expected finite numbers ({what}), found {text.strip()!r}")
    if not all(abs(v) <= MAX_COORDINATE for v in values):
        raise FormatError(path, lineno, f"expected numbers within ±{MAX_COORDINATE:,.0f} ({what}), "
                                        f"found {text.strip()!r}")
    return values


def parse_count(path: Path, lineno: int, text: str, what: str) -> int:
    """Parse a non-negative integer count line."""
    stripped = text.strip()
    if not stripped.isdigit():
        raise FormatError(path, lineno, f"expected a non-negative integer ({what}), found {stripped!r}")
    return int(stripped)


def relative_name_problem(name: str) -> str | None:
    """Why an image name read from a file is not a plain path below the image root, or ``None``.

    Names are always relative to the image root; an absolute one, a drive, a ``..`` component or
    a backslash would let a writer that derives an output path from the name leave its folder.
    """
    if "\\" in name:
        return "uses a backslash; names use / between folders"
    if name.startswith("/") or Path(name).is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path; names must be relative to the image root"
    if ".." in name.split("/"):
        return "climbs out of the image root with '..'"
    return None


def format_number(value: float) -> str:
    """Integers print without a decimal point; other values with up to 6 significant decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def read_lines(path: str | os.PathLike[str], what: str) -> list[str]:
    """The lines of a small UTF-8 text file without trailing blank lines (common in hand-edited files).

    A missing file raises ``FileNotFoundError``; a binary file a ``FormatError`` naming ``what`` was expected.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # a UTF-8 BOM is not content
    except UnicodeDecodeError:
        raise FormatError(path, None, f"not a UTF-8 text file ({what} expected)") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def natural_key(text: str) -> tuple:
    """Sort key that orders ``2`` before ``10`` (DARK FACE ids are numbers)."""
    return (0, int(text), "") if text.isdigit() else (1, 0, text)
