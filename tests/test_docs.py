"""The docs point at what exists: every path that ``docs/architecture.md``'s "where to change
what" names is in the tree (a moved module must take its line in the table with it)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("app/", "srn/", "tests/", "tools/", "docs/", "packaging/", "benchmarks/", "resources/", ".ci/")


def _named_paths(line: str) -> list[str]:
    """Paths in backticks; a bare ``name.py`` is beside the last full path before it on the line."""
    out, folder = [], ""
    for token in re.findall(r"`([^`]+)`", line):
        if token.startswith(TOP):
            out.append(token)
            folder = token.rsplit("/", 1)[0] + "/"
        elif re.fullmatch(r"[\w.]+\.py", token) and folder:
            out.append(folder + token)
    return out


def test_every_path_in_where_to_change_what_exists():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("## Where to change what", 1)[1].split("\n## ", 1)[0]
    named = [p for line in table.splitlines() if line.startswith("|") for p in _named_paths(line)]
    assert len(named) > 20
    missing = [p for p in named if not list(ROOT.glob(re.sub(r"<[^>]+>", "*", p).rstrip("/")))]
    assert missing == []


def test_every_decision_record_says_what_was_weighed_and_what_follows():
    """An ADR without its considered options or consequences is a decree, not a record."""
    records = sorted((ROOT / "docs" / "adr").glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert len(records) >= 10
    sections = ("## Context", "## Considered options", "## Decision", "## Consequences")
    lacking = {r.name: [s for s in sections if not re.search(f"^{s}$", r.read_text(encoding="utf-8"), re.M)]
               for r in records}
    assert {name: gaps for name, gaps in lacking.items() if gaps} == {}
