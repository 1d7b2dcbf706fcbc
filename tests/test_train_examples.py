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


def _guide_commands(example: str) -> list[list[str]]:
    """The ``srn ...`` lines of the fine-tuning guide's code block that uses ``example``."""
    import re
    import shlex

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "07-fine-tuning.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", guide, flags=re.S)
    block = next(b for b in blocks if example in b)
    return [shlex.split(line) for line in block.splitlines() if line.startswith("srn ")]


@pytest.mark.slow
def test_the_synthetic_example_runs_as_the_guide_shows(tmp_path):
    """Issue 20 item 14: the guide's own commands, in a copy of docs/examples (the run is cut to 2
    iterations of 128 px crops; everything else as shipped), from the demo model."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "docs" / "examples", tmp_path / "docs" / "examples")
    commands = _guide_commands("finetune_synthetic.json")
    assert [c[1] for c in commands] == ["synth", "train"]
    for argv in commands:
        if argv[1] == "train":
            argv += ["--set", "max_iters=2", "--set", "size=128", "--set", "workers=0"]
        done = subprocess.run([sys.executable, "-m", "srn", *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{' '.join(argv)}\n{done.stderr[-2000:]}"
        assert "freeze_bn" not in done.stderr, "no warning about the project's own defaults"
    assert (tmp_path / "runs" / "synth" / "final.pth").is_file()
