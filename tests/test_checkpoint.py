"""Checkpoints: the authors' legacy layout, the project's format, and every way a file can be wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srn.engine.checkpoint import (
    CheckpointError,
    CheckpointMetadata,
    load_weights,
    save_checkpoint,
    sha256_file,
)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_authors_legacy_layout_with_module_prefix_loads(tmp_path):
    source = _model(1)
    path = tmp_path / "SRN.pth"
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state}, path, _use_new_zipfile_serialization=False)
    target = _model(2)
    meta = load_weights(target, path)
    assert _same(source, target) and meta.source_format == "authors"


def test_project_format_round_trip_with_metadata(tmp_path):
    source = _model(3)
    meta = CheckpointMetadata(srn_config={"backbone": "resnet18"}, training_data={"images": 12},
                              enhancement={"method": "msrcr", "sigmas": [15, 80, 250]},
                              parent={"name": "base", "sha256": "ab" * 32}, metrics={"ap": 0.5})
    path = tmp_path / "models" / "m.pt"
    digest = save_checkpoint(path, source, meta)
    assert digest == sha256_file(path)
    assert not list(path.parent.glob("*.tmp"))
    target = _model(4)
    back = load_weights(target, path)
    assert _same(source, target)
    assert back.enhancement == meta.enhancement and back.parent == meta.parent and back.metrics == {"ap": 0.5}
    assert back.created and back.source_format == "darkface-srn"


def test_bare_state_dict_is_accepted(tmp_path):
    source = _model(5)
    torch.save(source.state_dict(), tmp_path / "sd.pt")
    target = _model(6)
    assert load_weights(target, tmp_path / "sd.pt").source_format == "state_dict"
    assert _same(source, target)


def test_every_mismatch_is_listed_at_once(tmp_path):
    state = _model().state_dict()
    state.pop("0.weight")
    state["extra.weight"] = torch.zeros(1)
    state["2.weight"] = torch.zeros(5, 4, 1, 1)
    torch.save({"state_dict": state}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as info:
        load_weights(_model(), tmp_path / "bad.pth")
    text = str(info.value)
    assert text.startswith(str(tmp_path / "bad.pth"))
    assert "1 missing key(s): 0.weight" in text
    assert "1 unexpected key(s): extra.weight" in text
    assert "2.weight (checkpoint (5, 4, 1, 1), model (2, 4, 1, 1))" in text


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such checkpoint file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b"definitely not a checkpoint"), "cannot read checkpoint"),
        (lambda p: torch.save({"x": _Evil()}, p), "refusing to unpickle arbitrary objects"),
        (lambda p: torch.save({"epoch": 3, "optimizer": {}}, p), "no 'state_dict'"),
        (lambda p: torch.save([1, 2], p), "expected a dict"),
        (lambda p: torch.save({"format": "darkface-srn", "version": 99, "state_dict": {}}, p), "newer than"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, capsys, make, message):
    path = tmp_path / "ckpt.pth"
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_weights(_model(), path)
    assert str(info.value).startswith(str(path))
    assert "this must never run" not in capsys.readouterr().out


def test_truncated_file_is_a_clear_error_and_the_model_is_untouched(tmp_path):
    source = _model(7)
    path = tmp_path / "t.pt"
    save_checkpoint(path, source, CheckpointMetadata())
    path.write_bytes(path.read_bytes()[:200])
    target = _model(8)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError):
        load_weights(target, path)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
