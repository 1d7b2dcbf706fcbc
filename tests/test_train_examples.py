"""The example training configs in docs/examples load and validate (paths resolve next to them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srn.engine.train_config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "docs" / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path):
    config = load_config(path)
    assert config.data, "every example trains on something"
    for spec in config.data:
        for value in spec.values():
            if isinstance(value, str) and "/" in value:
                assert Path(value).is_absolute() and str(path.parent) in value  # resolved next to the file
