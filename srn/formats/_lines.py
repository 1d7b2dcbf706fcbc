"""Shared helpers for strict, line-numbered parsing of whitespace-separated number files."""

from __future__ import annotations

from pathlib import Path

from srn.formats.errors import FormatError


def parse_numbers(path: Path, lineno: int, text: str, count: int, what: str) -> list[float]:
    """Parse exactly ``count`` numbers from one line, or raise a ``FormatError`` saying what was found."""
    fields = text.split()
    if len(fields) != count:
        raise FormatError(path, lineno, f"expected {count} numbers ({what}), found {len(fields)}: {text.strip()!r}")
    try:
        return [float(f) for f in fields]
    except ValueError:
        raise FormatError(path, lineno, f"expected numbers ({what}), found {text.strip()!r}") from None


def parse_count(path: Path, lineno: int, text: str, what: str) -> int:
    """Parse a non-negative integer count line."""
    stripped = text.strip()
    if not stripped.isdigit():
        raise FormatError(path, lineno, f"expected a non-negative integer ({what}), found {stripped!r}")
    return int(stripped)


def format_number(value: float) -> str:
    """Integers print without a decimal point; other values with up to 6 significant decimals."""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"
