"""The Detector: checkpoints in, faces out — single and multi-scale, batches, files, devices."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from srn.engine.checkpoint import CheckpointError, CheckpointMetadata, save_checkpoint
from srn.engine.detector import Detector
from srn.engine.device import DeviceError, pick_device
from srn.enhance import MSRCRParams, enhance
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN


def _model(backbone: str = "resnet18", seed: int = 0) -> SRN:
    """Random weights with a confident classifier, so boxes pass the 0.05 threshold."""
    torch.manual_seed(seed)
    model = SRN(SRNConfig(backbone=backbone))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        model.cls_subnet_pred.bias.fill_(1.0)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> SRN:
    return _model()


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(rng.random((96, 128, 3)) * 255).astype(np.uint8) for _ in range(3)]


def _same(a, b) -> bool:
    return torch.equal(a.boxes, b.boxes) and torch.equal(a.scores, b.scores) and torch.equal(a.levels, b.levels)


def test_single_scale_boxes_lie_inside_the_image(model, images):
    det = Detector(model, device="cpu").detect(images[0])[0]
    assert len(det.scores) > 0 and (det.scores > 0.05).all()
    assert det.boxes.shape == (len(det.scores), 4)
    assert (det.boxes[:, 0] >= 0).all() and (det.boxes[:, 2] <= 127).all()
    assert (det.boxes[:, 1] >= 0).all() and (det.boxes[:, 3] <= 95).all()
    assert set(det.levels.tolist()) <= set(range(6))


def test_batch_equals_single_images(model, images):
    detector = Detector(model, device="cpu")
    batched = detector.detect(images, batch_size=3)
    for image, det in zip(images, batched):
        single = detector.detect([image], batch_size=1)[0]
        assert (torch.allclose(single.boxes, det.boxes, atol=1e-4)
                and torch.allclose(single.scores, det.scores, atol=1e-5))


def test_selective_and_naive_computation_give_identical_detections(model, images):
    detector = Detector(model, device="cpu")
    selective = detector.detect(images[:1])[0]
    detector.compute = "naive"
    naive = detector.detect(images[:1])[0]
    assert _same(selective, naive)


def test_channels_last_matches_nchw(model, images):
    detector = Detector(model, device="cpu", channels_last=True)
    fast = detector.detect(images[0])[0]
    detector.set_channels_last(False)
    plain = detector.detect(images[0])[0]
    assert len(fast.scores) == len(plain.scores)
    assert torch.allclose(fast.boxes, plain.boxes, atol=1e-3) and torch.allclose(fast.scores, plain.scores, atol=1e-5)


def test_multiscale_small_and_large_branches(model, images):
    detector = Detector(model, device="cpu")
    small = detector.detect(images[0], mode="multiscale", max_size=160)[0]  # 96×128 < 160²: upscales
    large = detector.detect(images[0], mode="multiscale", max_size=100)[0]  # above the budget
    for det in (small, large):
        assert len(det.scores) > 0
        assert (det.boxes[:, 0] >= 0).all() and (det.boxes[:, 2] <= 127).all() and (det.scores > 0).all()
    assert not torch.equal(small.boxes, large.boxes)


def test_enhancement_runs_before_the_network(model, images):
    detector = Detector(model, device="cpu")
    via_param = detector.detect(images[0], enhance=MSRCRParams())[0]
    by_hand = detector.detect(enhance(images[0], MSRCRParams()))[0]
    assert _same(via_param, by_hand)


def test_project_checkpoint_round_trip(tmp_path, model, images):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    loaded = Detector.from_checkpoint(path, device="cpu")
    assert loaded.config.backbone == "resnet18"
    assert _same(loaded.detect(images[0])[0], Detector(model, device="cpu").detect(images[0])[0])


def test_authors_legacy_checkpoint_loads_into_resnet50(tmp_path):
    source = _model("resnet50", seed=3)
    path = tmp_path / "SRN.pth"
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state}, path, _use_new_zipfile_serialization=False)
    detector = Detector.from_checkpoint(path, device="cpu")
    assert detector.metadata.source_format == "authors" and detector.config.backbone == "resnet50"
    image = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    assert _same(detector.detect(image)[0], Detector(source, device="cpu").detect(image)[0])


def test_checkpoint_for_another_backbone_is_a_clear_error(tmp_path, model):
    path = tmp_path / "r18_as_authors.pth"
    torch.save({"state_dict": model.state_dict()}, path)  # no metadata: read as ResNet-50
    with pytest.raises(CheckpointError, match="does not fit the model.*missing key"):
        Detector.from_checkpoint(path, device="cpu")


def test_devices_and_precision():
    assert pick_device("cpu").type == "cpu"
    assert pick_device().type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="not available"):
            pick_device("cuda")
    with pytest.raises(DeviceError, match="unknown device"):
        pick_device("tpu9")
    with pytest.raises(DeviceError, match="unsupported device 'meta'"):
        pick_device("meta")
    with pytest.raises(ValueError, match="fp16 inference needs a GPU"):
        Detector(_model(), device="cpu", precision="fp16")


def test_bf16_autocast_on_cpu_runs(model, images):
    det = Detector(model, device="cpu", precision="bf16").detect(images[0])[0]
    assert torch.isfinite(det.boxes).all() and det.boxes.dtype == torch.float32


def test_wrong_input_is_a_clear_error(model):
    detector = Detector(model, device="cpu")
    with pytest.raises(ValueError, match=r"image 0: expected uint8 RGB of shape \(H, W, 3\)"):
        detector.detect([np.zeros((10, 10), np.uint8)])
    with pytest.raises(ValueError, match="mode must be"):
        detector.detect(np.zeros((32, 32, 3), np.uint8), mode="fast")


def test_streaming_over_files_keeps_order_and_reports_bad_files(tmp_path, model, images):
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), image[:, :, ::-1])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    paths.insert(1, bad)
    detector = Detector(model, device="cpu")
    results = list(detector.detect_files(paths, prefetch=2))
    assert [r.path for r in results] == paths
    assert results[1].error and "bad.png" in results[1].error and results[1].detections is None
    assert _same(results[0].detections, detector.detect(images[0])[0])
    assert results[2].size == (96, 128)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "srn", "detect", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_cli_detect_formats_and_failures(tmp_path, model, images):
    weights = tmp_path / "m.pt"
    save_checkpoint(weights, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    folder = tmp_path / "imgs" / "0--Night"
    folder.mkdir(parents=True)
    for i, image in enumerate(images[:2]):
        cv2.imwrite(str(folder / f"img_{i}.png"), image[:, :, ::-1])
    root = tmp_path / "imgs"

    done = _cli(root, "--weights", weights, "--out", tmp_path / "json", "--device", "cpu", "--quiet")
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "json" / "detections.json").read_text())
    assert [img["file"] for img in data["images"]] == ["0--Night/img_0.png", "0--Night/img_1.png"]
    expected = Detector(model, device="cpu").detect(images[0])[0]
    assert len(data["images"][0]["boxes"]) == len(expected.scores)

    done = _cli(root, "--weights", weights, "--out", tmp_path / "w", "--format", "wider", "--quiet",
                "--min-score", "0.5")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "w" / "0--Night" / "img_0.txt").read_text().splitlines()
    assert lines[0] == "img_0" and int(lines[1]) == int((expected.scores >= 0.5).sum())

    (folder / "broken.png").write_bytes(b"junk")
    done = _cli(root, "--weights", weights, "--out", tmp_path / "d", "--format", "darkface", "--quiet")
    assert done.returncode == 1 and "broken.png" in done.stderr and "1 failed" in done.stdout
    assert (tmp_path / "d" / "img_1.txt").exists()

    done = _cli(root, "--weights", tmp_path / "missing.pt", "--out", tmp_path / "x")
    assert done.returncode == 2 and "no such checkpoint file" in done.stderr


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_matches_cpu_fp32(model, images, precision):
    """Run on a GPU machine: CUDA output (any precision) against the CPU fp32 reference."""
    reference = Detector(model, device="cpu", channels_last=False).detect(images[0])[0]
    got = Detector(model, device="cuda", precision=precision).detect(images[0])[0]
    from torchvision.ops import box_iou

    assert abs(len(reference.scores) - len(got.scores)) <= max(2, len(reference.scores) // 10)
    top = reference.boxes[:20]
    best = box_iou(top, got.boxes.cpu()).max(dim=1).values  # each reference box has a twin
    assert (best > {"fp32": 0.99, "fp16": 0.95, "bf16": 0.9}[precision]).all()
