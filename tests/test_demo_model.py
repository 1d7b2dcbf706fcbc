"""The demo model shipped in resources/models/: the file, its card, `--weights demo`, every new project."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import darkface_resources
import numpy as np
import pytest
import torch

from app.project_folder import open_folder_project
from app.store import Project, model_versions, register_model
from app.store.cli import main as project_main
from app.store.shipped_models import ensure_demo_model
from srn.cli import main as srn_main
from srn.engine.checkpoint import read_checkpoint_file, save_half_precision, split_checkpoint
from srn.engine.detector import Detector
from srn.engine.shipped_models import DEMO_MODEL_NAME, demo_model_path, resolve_weights
from srn.imageio import write_image
from tests.training_fixtures import tiny_checkpoint

MAX_BYTES = 25 * 1024 * 1024
CARD = darkface_resources.path("models", "README.md")


def test_the_shipped_file_is_small_fp16_and_loads_safely_into_the_fp32_network() -> None:
    path = demo_model_path()
    assert path == darkface_resources.DEMO_MODEL and path.stat().st_size <= MAX_BYTES
    raw = torch.load(path, map_location="cpu", weights_only=True)  # no pickled objects in it
    floats = [v for v in raw["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    detector = Detector.from_checkpoint(path, device="cpu")
    assert detector.config.backbone == "resnet18" and detector.config.channels == 64
    assert all(p.dtype == torch.float32 for p in detector.model.parameters())
    _, meta = split_checkpoint(read_checkpoint_file(path), path)
    assert meta.metrics["held_out_images"] == 40
    assert 0.0 <= meta.metrics["held_out_ap50_raw"] <= meta.metrics["held_out_ap50_msrcr"] <= 1.0
    assert meta.training_data["command"].startswith("python tools/train_demo_model.py")


def test_the_model_card_quotes_the_numbers_stored_in_the_checkpoint() -> None:
    _, meta = split_checkpoint(read_checkpoint_file(demo_model_path()), demo_model_path())
    card = CARD.read_text(encoding="utf-8")
    for key in ("held_out_ap50_raw", "held_out_ap50_msrcr"):
        assert f"{meta.metrics[key]:.3f}" in card, key
    assert "python tools/train_demo_model.py" in card and "python benchmarks/demo_model.py" in card
    assert re.search(r"not a detector for real faces", card)


def test_half_precision_copy_is_compressed_and_loses_nothing_but_precision(tmp_path: Path) -> None:
    src = tiny_checkpoint(tmp_path / "tiny.pth")
    size = save_half_precision(src, tmp_path / "half.pth", metrics={"ap": 0.5})
    assert size == (tmp_path / "half.pth").stat().st_size < src.stat().st_size / 2
    assert {i.compress_type for i in zipfile.ZipFile(tmp_path / "half.pth").infolist()} == {zipfile.ZIP_DEFLATED}
    full, _ = split_checkpoint(read_checkpoint_file(src), src)
    half, meta = split_checkpoint(read_checkpoint_file(tmp_path / "half.pth"), tmp_path / "half.pth")
    assert meta.metrics == {"ap": 0.5} and half.keys() == full.keys()
    for key, value in full.items():
        assert torch.equal(half[key], value.half() if value.is_floating_point() else value), key


def test_srn_detect_weights_demo_uses_the_shipped_model(tmp_path: Path, capsys, monkeypatch) -> None:
    write_image(tmp_path / "in" / "a.png", np.full((96, 128, 3), 40, np.uint8))
    monkeypatch.chdir(tmp_path)
    assert srn_main(["detect", str(tmp_path / "in"), "--weights", "demo", "--out", str(tmp_path / "out"),
                     "--enhance", "msrcr", "--quiet"]) == 0
    payload = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert [r["file"] for r in payload["images"]] == ["a.png"]
    assert resolve_weights("demo") == demo_model_path()
    (tmp_path / "demo").mkdir()  # a folder called demo is no checkpoint: the alias still holds
    assert resolve_weights("demo") == demo_model_path()
    (tmp_path / "demo").rmdir()
    (tmp_path / "demo").write_bytes(b"x")  # a file called demo here keeps its old meaning
    assert resolve_weights("demo") == Path("demo")
    assert resolve_weights("other.pth") == Path("other.pth")
    assert "'demo'" in _help(capsys, ["detect", "--help"])


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit):
        srn_main(argv)
    return capsys.readouterr().out


def test_every_new_project_offers_the_demo_model_once(tmp_path: Path) -> None:
    folder = tmp_path / "night"
    folder.mkdir()
    write_image(folder / "1.png", np.zeros((40, 60, 3), np.uint8))
    project, _ = open_folder_project(folder)
    with project:
        (demo,) = model_versions(project)
        assert demo.name == DEMO_MODEL_NAME and Path(demo.checkpoint_path) == demo_model_path()
        assert demo.metrics["demo"] is True and "held_out_ap50_msrcr" in demo.metrics
        assert ensure_demo_model(project) == demo  # idempotent
    project, _ = open_folder_project(folder)  # reopened: still one
    with project:
        assert model_versions(project) == [demo]


def test_a_moved_install_updates_the_path_and_a_taken_name_is_not_reused(tmp_path: Path, monkeypatch) -> None:
    with Project.create(tmp_path / "p.db") as project:
        register_model(project, DEMO_MODEL_NAME, tiny_checkpoint(tmp_path / "mine.pth"))  # the user's own
        demo = ensure_demo_model(project)
        assert demo.name == f"{DEMO_MODEL_NAME} (2)"
        moved = tmp_path / "elsewhere" / "demo-srn-r18.pth"
        moved.parent.mkdir()
        shutil.copy2(demo_model_path(), moved)
        monkeypatch.setattr(darkface_resources, "DEMO_MODEL", moved)
        again = ensure_demo_model(project)
        assert again.id == demo.id and Path(again.checkpoint_path) == moved
        monkeypatch.setattr(darkface_resources, "DEMO_MODEL", tmp_path / "missing.pth")
        assert ensure_demo_model(project) is None  # an install without it: the project still opens
        assert len(model_versions(project)) == 2


def test_project_init_registers_the_demo_model(tmp_path: Path, capsys) -> None:
    assert project_main(["init", str(tmp_path / "p.db")]) == 0
    assert f"the model {DEMO_MODEL_NAME!r}" in capsys.readouterr().out
    with Project.open(tmp_path / "p.db") as project:
        assert [m.name for m in model_versions(project)] == [DEMO_MODEL_NAME]
