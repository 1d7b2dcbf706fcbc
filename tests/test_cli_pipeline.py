"""End to end through the command line, as a user would chain it:
synth -> convert -> detect -> eval, all in subprocesses on real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from srn.engine.checkpoint import CheckpointMetadata, save_checkpoint
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN


def _srn(*args):
    return subprocess.run([sys.executable, "-m", "srn", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_synth_convert_detect_eval(tmp_path):
    data = tmp_path / "synth"
    assert _srn("synth", data, "--n", "3", "--seed", "4", "--width", "160", "--height", "128",
                "--quiet").returncode == 0

    # Labels: DARK FACE -> COCO -> DARK FACE gives the same boxes back.
    coco = tmp_path / "gt.json"
    done = _srn("convert", "--from", "darkface", "--to", "coco", data / "label", coco, "--images", data / "night")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(coco.read_text())["annotations"]) == sum(
        int((data / "label" / f"{i}.txt").read_text().split()[0]) for i in (1, 2, 3)
    )
    back = tmp_path / "back"
    assert _srn("convert", "--from", "coco", "--to", "darkface", coco, back).returncode == 0, "coco -> darkface"
    for i in (1, 2, 3):
        assert (back / f"{i}.txt").read_text().split() == (data / "label" / f"{i}.txt").read_text().split()

    # A (random, confident) model detects; the official DARK FACE metric scores it.
    torch.manual_seed(0)
    model = SRN(SRNConfig(backbone="resnet18"))
    with torch.no_grad():
        model.cls_subnet_pred.bias.fill_(1.0)
    weights = tmp_path / "m.pt"
    save_checkpoint(weights, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    preds = tmp_path / "preds"
    done = _srn("detect", data / "night", "--weights", weights, "--out", preds, "--format", "darkface",
                "--device", "cpu", "--quiet")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in preds.iterdir()) == ["1.txt", "2.txt", "3.txt"]
    summary = tmp_path / "eval.json"
    done = _srn("eval", "--gt", data / "label", "--pred", preds, "--protocol", "darkface",
                "--json", summary, "--plot", tmp_path / "pr.png")
    assert done.returncode == 0, done.stderr
    assert "AP" in done.stdout
    assert (tmp_path / "pr.png").stat().st_size > 1000

    # The ground truth scored against itself (as predictions with score 1) is perfect.
    perfect = tmp_path / "perfect"
    perfect.mkdir()
    for i in (1, 2, 3):
        rows = (data / "label" / f"{i}.txt").read_text().splitlines()[1:]
        (perfect / f"{i}.txt").write_text("".join(f"{r} 1.0\n" for r in rows))
    done = _srn("eval", "--gt", data / "label", "--pred", perfect, "--protocol", "ap50", "--json", summary)
    assert done.returncode == 0, done.stderr
    assert "AP 1.0000" in done.stdout, done.stdout
