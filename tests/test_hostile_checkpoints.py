"""Hostile checkpoints (issue 20, items 10 and 11): NaN weights are never silent, absurd or
mistyped metadata is a message naming the file before any network is built."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QCoreApplication

from srn.engine.checkpoint import (
    CheckpointError,
    CheckpointMetadata,
    NonFiniteWeightsWarning,
    save_checkpoint,
    srn_config_of,
)
from srn.engine.detector import Detector
from srn.imageio import write_image
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN
from srn.weights.verify import verify_srn

ROOT = Path(__file__).resolve().parents[1]


def _tiny(path: Path, *, poison: str | None = None, srn_config: dict | None = None) -> Path:
    torch.manual_seed(0)
    model = SRN(SRNConfig(backbone="resnet18", channels=16))
    if poison:
        with torch.no_grad():
            model.state_dict()[poison].view(-1)[0] = float("nan")
    save_checkpoint(path, model, CheckpointMetadata(srn_config=srn_config or model.config.to_dict()))
    return path


NAN_KEY = "cls_subnet_pred.weight"


def test_nan_weights_warn_naming_the_file_and_the_tensor(tmp_path):
    path = _tiny(tmp_path / "diverged.pth", poison=NAN_KEY)
    with pytest.warns(NonFiniteWeightsWarning) as caught:
        Detector.from_checkpoint(path, device="cpu")
    text = str(caught[0].message)
    assert str(path) in text and NAN_KEY in text and "1 weight tensor" in text


def test_finite_weights_load_without_a_warning(tmp_path):
    path = _tiny(tmp_path / "fine.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Detector.from_checkpoint(path, device="cpu")


def test_nan_weights_can_be_refused(tmp_path):
    path = _tiny(tmp_path / "diverged.pth", poison=NAN_KEY)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        Detector.from_checkpoint(path, device="cpu", nonfinite="error")


@pytest.mark.slow
def test_srn_detect_with_nan_weights_says_so_on_one_line(tmp_path):
    weights = _tiny(tmp_path / "diverged.pth", poison=NAN_KEY)
    images = tmp_path / "images"
    write_image(images / "a.png", np.full((96, 128, 3), 40, np.uint8))
    done = subprocess.run([sys.executable, "-m", "srn", "detect", str(images), "--weights", str(weights),
                           "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    warning = [line for line in done.stderr.splitlines() if "NaN" in line]
    assert warning and warning[0].startswith("warning: ") and str(weights) in warning[0], done.stderr
    assert "warnings.warn" not in done.stderr  # the compact form, not Python's source echo


def test_the_window_refuses_a_nan_model_with_a_message(qtbot, tmp_path, write_images):
    from app.jobs.detect_job import DetectJob
    from app.store import Project, import_images

    write_images(tmp_path / "images", ["a.png"])
    project = Project.create(tmp_path / "p.db")
    import_images(project, tmp_path / "images")
    weights = _tiny(tmp_path / "diverged.pth", poison=NAN_KEY)
    job = DetectJob(project, [1], weights, parent=QCoreApplication.instance())
    with qtbot.waitSignal(job.failed, timeout=60_000) as blocker:
        job.start()
    assert job.wait(5_000)
    assert str(weights) in blocker.args[0] and "NaN" in blocker.args[0]
    project.close()


@pytest.mark.parametrize("change, message", [
    ({"channels": 1_000_000}, "channels must be between 1 and 1024"),
    ({"channels": "256"}, "channels must be a whole number"),
    ({"channels": True}, "channels must be a whole number"),
    ({"channels": 2.5}, "channels must be a whole number"),
    ({"backbone": ["resnet50"]}, "backbone must be one of"),
    ({"strides": [4, 8, 16]}, "strides must be a list of 6"),
    ({"strides": "abcdef"}, "strides must be a list of 6"),
    ({"anchor_scales": [float("nan")]}, "anchor_scales must be a number"),
    ({"anchor_scales": [2.0] * 100_000}, "anchor_scales must be a list of 1–8"),
    ({"anchor_ratios": [-1.0]}, "anchor_ratios must be between"),
    ({"stc_levels": [0, 9]}, "stc_levels must be between 0 and 5"),
    ({"str_levels": [3, 3]}, "str_levels repeats a level"),
    ({"heads": 3}, "unknown SRN config field"),
])
def test_absurd_or_mistyped_metadata_is_refused_before_building_the_network(tmp_path, change, message):
    config = {**SRNConfig(backbone="resnet18", channels=16).to_dict(), **change}
    path = _tiny(tmp_path / "odd.pth", srn_config=config)

    with pytest.raises(CheckpointError) as raised:
        Detector.from_checkpoint(path, device="cpu")
    assert str(path) in str(raised.value) and message in str(raised.value)
    with pytest.raises(CheckpointError, match=message.split(" must")[0]):
        verify_srn(path)


def test_metadata_that_is_not_a_mapping_is_refused(tmp_path):
    meta = CheckpointMetadata(srn_config=["resnet50"])  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="expected a mapping"):
        srn_config_of(meta, tmp_path / "x.pth")


def test_the_authors_defaults_pass_the_bounds():
    assert SRNConfig().channels == 256 and SRNConfig.from_dict(SRNConfig().to_dict()) == SRNConfig()


def test_verify_checkpoint_accepts_an_srn_and_refuses_what_is_not_one_before_registering(tmp_path: Path) -> None:
    from srn.engine.checkpoint import verify_checkpoint

    model = SRN(SRNConfig(backbone="resnet18", channels=16))
    good = tmp_path / "good.pth"
    save_checkpoint(good, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    assert verify_checkpoint(good).srn_config["backbone"] == "resnet18"

    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match="notes.pth: cannot read checkpoint: not a PyTorch file"):
        verify_checkpoint(text)
    other_net = tmp_path / "classifier.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, other_net)
    with pytest.raises(CheckpointError, match="does not fit the model"):
        verify_checkpoint(other_net)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    diverged = tmp_path / "diverged.pth"
    save_checkpoint(diverged, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        verify_checkpoint(diverged)
