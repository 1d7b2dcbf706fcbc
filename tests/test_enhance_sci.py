"""SCI on the authors' shipped weights: equal to their network and formula (written here with
``torch.nn`` straight from the paper's description, independently of ``srn.enhance.sci``), the
files are the authors' (checksums, licence beside them), and bad weight files are refused by name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import darkface_resources
import numpy as np
import pytest
import torch
from skimage import data

from srn.enhance import METHODS, ParamError, SCIParams, enhance, torch_ops
from srn.enhance.sci import SCI_WEIGHTS, SCIWeightsError, read_network, weights_file

THIRD_PARTY = Path(__file__).resolve().parents[2] / "shared" / "third_party" / "sci"


class _AuthorsStage(torch.nn.Module):
    """The test-time illumination stage as the paper and the weights' README describe it."""

    def __init__(self) -> None:
        super().__init__()
        self.in_conv = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.ReLU())
        self.block = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.BatchNorm2d(3),
                                         torch.nn.ReLU())
        self.out_conv = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Sigmoid())

    def load_authors(self, path: Path) -> _AuthorsStage:
        state = torch.load(path, map_location="cpu", weights_only=True)
        mine = {"in_conv.0": "enhance.in_conv.0", "block.0": "enhance.blocks.0.0", "block.1": "enhance.blocks.0.1",
                "out_conv.0": "enhance.out_conv.0"}
        self.load_state_dict({k: state[k.replace(a, b, 1)] for k in self.state_dict()
                              for a, b in mine.items() if k.startswith(a + ".")})
        return self.eval()

    def forward(self, i: torch.Tensor) -> torch.Tensor:
        f = self.in_conv(i)
        f = f + self.block(f)
        light = torch.clamp(self.out_conv(f) + i, 0.0001, 1)
        return torch.clamp(i / light, 0, 1)


def _authors_output(image: np.ndarray, name: str) -> np.ndarray:
    stage = _AuthorsStage().load_authors(weights_file(name))
    with torch.no_grad():
        r = stage(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)[0]
    return torch.round(r * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def night() -> np.ndarray:
    """A real photo darkened to night levels, with the odd noisy pixel."""
    rng = np.random.default_rng(0)
    dark = data.astronaut()[::2, ::2].astype(np.float32) * 0.12 + rng.normal(0, 2, (256, 256, 3))
    return np.clip(dark, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", SCI_WEIGHTS)
def test_numpy_and_torch_paths_equal_the_authors_network_within_one_grey_level(night, name):
    expected = _authors_output(night, name)
    params = SCIParams(weights=name)
    got_numpy = enhance(night, params)
    got_torch = torch_ops.enhance_numpy(night, params, device="cpu")
    for got in (got_numpy, got_torch):
        assert got.shape == night.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - expected).max() <= 1
    assert expected.mean() > 2 * night.mean()  # it brightens a night picture


def test_gamma_is_applied_after_the_division_and_one_is_the_authors_output(night):
    base = enhance(night, SCIParams())
    brighter = enhance(night, SCIParams(gamma=0.5))
    assert np.array_equal(base, enhance(night, SCIParams(gamma=1.0)))
    expected = np.rint(255 * (_authors_output(night, "difficult") / 255.0) ** 0.5)
    assert np.abs(brighter.astype(int) - expected).max() <= 2  # R is rounded once, after the power
    assert brighter.mean() > base.mean()
    with pytest.raises(ParamError, match="sci: weights must be one of difficult, medium, easy"):
        SCIParams(weights="night")
    with pytest.raises(ParamError, match="gamma"):
        SCIParams(gamma=0.0)


def test_the_shipped_files_are_the_authors_with_their_licence():
    folder = darkface_resources.SCI_WEIGHTS
    sums = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert set(sums) == {f"{name}.pt" for name in SCI_WEIGHTS}
    for file, digest in sums.items():
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest
    assert "MIT License" in (folder / "LICENSE").read_text() and "Tengyu Ma" in (folder / "LICENSE").read_text()
    if THIRD_PARTY.is_dir():  # the copy is byte-for-byte the third-party folder's
        for file in [*sums, "LICENSE"]:
            assert (folder / file).read_bytes() == (THIRD_PARTY / file).read_bytes()
    assert METHODS["sci"].params_type is SCIParams and METHODS["sci"].torch_op == "sci"


class _NotWeights:
    pass


def test_damaged_or_foreign_weight_files_are_refused_naming_the_file_and_the_tensor(tmp_path):
    state = torch.load(weights_file("difficult"), map_location="cpu", weights_only=True)
    pickled = tmp_path / "pickled.pt"
    torch.save({"enhance.in_conv.0.weight": _NotWeights()}, pickled)
    with pytest.raises(SCIWeightsError, match=r"pickled\.pt: not a readable weights file"):
        read_network(pickled)
    wrong = tmp_path / "wrong.pt"
    torch.save({**state, "enhance.out_conv.0.weight": torch.zeros(3, 16, 3, 3)}, wrong)
    with pytest.raises(SCIWeightsError, match=r"wrong\.pt: enhance\.out_conv\.0\.weight must have shape"):
        read_network(wrong)
    missing = tmp_path / "missing.pt"
    torch.save({k: v for k, v in state.items() if not k.startswith("enhance.blocks")}, missing)
    gone = r"missing\.pt: enhance\.blocks\.0\.\d\.\w+ must have shape \(3[,\) ].*missing$"
    with pytest.raises(SCIWeightsError, match=gone):
        read_network(missing)
    nan = tmp_path / "nan.pt"
    torch.save({**state, "enhance.in_conv.0.bias": torch.full((3,), float("nan"))}, nan)
    with pytest.raises(SCIWeightsError, match="NaN"):
        read_network(nan)
    (tmp_path / "garbage.pt").write_bytes(b"not a zip")
    with pytest.raises(SCIWeightsError, match=r"garbage\.pt"):
        read_network(tmp_path / "garbage.pt")
    with pytest.raises(SCIWeightsError, match="missing"):
        read_network(tmp_path / "absent.pt")
