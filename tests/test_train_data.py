"""Training data: samples, dataset adapters, the enhancement cache, collate and the loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from srn.data import datasets, loader
from srn.data.augment import TrainTransform
from srn.data.datasets import DatasetError, EnhanceCache, FaceDataset
from srn.data.samples import TrainSample
from srn.data.synth import SynthConfig, write_dataset
from srn.enhance import GammaParams
from srn.formats import darkface, wider
from srn.imageio import ImageReadError, write_image

CONFIG = SynthConfig(width=160, height=120, faces=(1, 4))


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synth"), 4, seed=3, config=CONFIG)


def test_train_sample_rules():
    s = TrainSample("a.png", [[0, 0, 9, 9], [5, 5, 5, 20], [3, 3, 2, 10]], ignore=[False, False, False], weights=0.5)
    assert s.ignore.tolist() == [False, True, True]  # 1 px wide and 0 px wide (WIDER w = 0) boxes
    assert s.weights.dtype == np.float32 and s.weights.tolist() == [0.5] * 3
    assert s.hard_negatives.shape == (0, 4) and s.num_faces == 1
    with pytest.raises(ValueError, match="inverted"):
        TrainSample("a.png", [[10, 0, 5, 9]])
    with pytest.raises(ValueError, match="2 boxes but 3 weights"):
        TrainSample("a.png", [[0, 0, 9, 9], [0, 0, 9, 9]], weights=[1.0, 1.0, 1.0])


def test_wider_adapter_reads_synthetic_files(synth):
    samples = datasets.wider_samples(synth / "wider_face_gt.txt", synth / "day")
    labels = darkface.read_labels_folder(synth / "label")
    assert [s.image_path.name for s in samples] == ["1.png", "2.png", "3.png", "4.png"]
    for s in samples:
        np.testing.assert_allclose(s.boxes, labels[s.image_path.stem])
        assert s.fully_labelled and s.weights.tolist() == [1.0] * len(s.boxes)
        assert s.image_path.is_file()


def test_wider_invalid_and_tiny_faces_become_ignore(tmp_path):
    write_image(tmp_path / "img" / "a.png", np.zeros((40, 40, 3), np.uint8))
    attrs = np.zeros((3, 6), np.int64)
    attrs[1, wider.ATTRIBUTES.index("invalid")] = 1
    wider.write_gt(tmp_path / "gt.txt",
                   [wider.WiderRecord("a.png", [[1, 1, 10, 10], [5, 5, 10, 10], [20, 20, 1, 8]], attrs)])
    (s,) = datasets.wider_samples(tmp_path / "gt.txt", tmp_path / "img")
    assert s.ignore.tolist() == [False, True, True]
    np.testing.assert_allclose(s.boxes[0], [1, 1, 10, 10])
    with pytest.raises(DatasetError, match="a.png"):
        datasets.wider_samples(tmp_path / "gt.txt", tmp_path / "elsewhere")


def test_darkface_adapter_matches_by_stem_and_names_a_missing_image(synth, tmp_path):
    samples = datasets.darkface_samples(synth / "label", synth / "night")
    assert [s.image_path for s in samples] == [synth / "night" / f"{i}.png" for i in range(1, 5)]
    labels = tmp_path / "label"
    darkface.write_label(labels / "1.txt", [[1, 2, 30, 40]])
    darkface.write_label(labels / "7.txt", [[1, 2, 30, 40]])
    images = tmp_path / "image"
    write_image(images / "1.jpg", np.zeros((50, 50, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"7\.txt"):
        datasets.darkface_samples(labels, images)


def test_in_memory_records():
    samples = datasets.samples_from_records([
        ("a.png", [[0, 0, 19, 19], [30, 30, 30, 40]], [False, False], [1.0, 0.3]),
        {"image_path": "b.png", "boxes": [[5, 5, 14, 14]], "weights": 0.5, "hard_negatives": [[40, 40, 60, 60]],
         "fully_labelled": False},
        ("c.png", np.zeros((0, 4))),
    ])
    a, b, c = samples
    assert a.ignore.tolist() == [False, True] and a.weights.tolist() == pytest.approx([1.0, 0.3])
    assert b.weights.tolist() == [0.5] and not b.fully_labelled and b.hard_negatives.shape == (1, 4)
    assert c.boxes.shape == (0, 4) and c.fully_labelled
    with pytest.raises(DatasetError, match="unknown"):
        datasets.samples_from_records([{"path": "x.png", "boxes": [], "colour": 1}])


def test_face_dataset_returns_tensors_and_names_unreadable_files(synth, tmp_path):
    samples = datasets.darkface_samples(synth / "label", synth / "night")
    ds = FaceDataset(samples)
    image, target = ds[0]
    assert image.shape == (3, 120, 160) and image.dtype == torch.float32
    assert target["boxes"].dtype == torch.float32 and target["image_path"].endswith("1.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match="broken.png"):
        FaceDataset([TrainSample(bad, [[0, 0, 9, 9]])])[0]
    with pytest.raises(ImageReadError, match="missing.png"):
        FaceDataset([TrainSample(tmp_path / "missing.png", [[0, 0, 9, 9]])], TrainTransform(32))[0]


def test_enhancement_cache_hit_miss_and_invalidation(synth, tmp_path, monkeypatch):
    calls = []
    real = datasets._run_enhance
    monkeypatch.setattr(datasets, "_run_enhance", lambda image, params: calls.append(1) or real(image, params))
    params = GammaParams(gamma=0.5)
    image_path = tmp_path / "n.png"
    image_path.write_bytes((synth / "night" / "1.png").read_bytes())
    cache_dir = tmp_path / "cache"
    ds = FaceDataset([TrainSample(image_path, [[0, 0, 9, 9]])], enhance=params, cache_dir=cache_dir)
    first = ds.load_image(0)
    assert len(calls) == 1
    files = list(cache_dir.rglob("*.png"))
    assert len(files) == 1 and files[0].parent.name == datasets.params_hash(params)
    assert files[0].stem == datasets.cache_key(params, image_path)
    second = FaceDataset(ds.samples, enhance=params, cache_dir=cache_dir).load_image(0)  # a fresh instance
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    plain = datasets.load_rgb(image_path)
    assert first.mean() > plain.mean()  # gamma 0.5 brightens
    ds.load_image(0)
    assert len(calls) == 1 and ds.cache.hits == 1
    FaceDataset(ds.samples, enhance=GammaParams(gamma=0.7), cache_dir=cache_dir).load_image(0)  # other params
    assert len(calls) == 2
    write_image(image_path, plain[:, ::-1])  # the image changes: new key
    ds.load_image(0)
    assert len(calls) == 3
    assert len(list(cache_dir.rglob("*.png"))) == 3
    current = EnhanceCache(cache_dir).path_for(params, image_path)
    current.write_bytes(b"damaged")  # a damaged cache file is recomputed and rewritten
    cache = EnhanceCache(cache_dir)
    cache(image_path, params)
    assert cache.computed == 1 and datasets.load_rgb(current).shape == plain.shape


def test_collate_shapes():
    batch = [(torch.zeros(3, 16, 16), {"boxes": np.zeros((2, 4)), "ignore": np.array([False, True]),
                                       "weights": np.ones(2, np.float32)}),
             (torch.ones(3, 16, 16), {"boxes": np.zeros((0, 4)), "ignore": np.zeros(0, bool),
                                      "weights": np.zeros(0, np.float32)})]
    images, targets = loader.collate(batch)
    assert images.shape == (2, 3, 16, 16)
    assert targets[0]["boxes"].shape == (2, 4) and targets[0]["boxes"].dtype == torch.float32
    assert targets[0]["ignore"].dtype == torch.bool and targets[1]["weights"].shape == (0,)
    with pytest.raises(ValueError, match="same size"):
        loader.collate([batch[0], (torch.zeros(3, 8, 8), batch[1][1])])


def _batches(samples, workers: int, seed: int):
    ds = FaceDataset(samples, TrainTransform(48, rng=0, anchor_sizes=(4, 8, 16, 32)))
    out = []
    for _ in range(2):  # two epochs
        for images, targets in loader.make_loader(ds, 2, shuffle=True, workers=workers, seed=seed):
            assert images.shape == (2, 3, 48, 48)
            out.append((images, [t["boxes"] for t in targets]))
    return out


def _same(a, b) -> bool:
    return all((ia == ib).all() and all(x.shape == y.shape and (x == y).all() for x, y in zip(ba, bb))
               for (ia, ba), (ib, bb) in zip(a, b))


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_is_deterministic_for_a_seed(synth, workers):
    samples = datasets.darkface_samples(synth / "label", synth / "night")
    first, second = _batches(samples, workers, 11), _batches(samples, workers, 11)
    assert len(first) == 4 and _same(first, second)
    assert not _same(first, _batches(samples, workers, 12))


def test_loader_accepts_a_distributed_sampler(synth):
    from torch.utils.data.distributed import DistributedSampler

    ds = FaceDataset(datasets.darkface_samples(synth / "label", synth / "night"), TrainTransform(32, rng=0))
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=0)
    batches = list(loader.make_loader(ds, 2, workers=0, seed=0, sampler=sampler))
    assert len(batches) == 1 and batches[0][0].shape == (2, 3, 32, 32)


def test_workers_draw_different_augmentation_streams(synth):
    sample = datasets.darkface_samples(synth / "label", synth / "night")[0]
    ds = FaceDataset([sample] * 4, TrainTransform(32, rng=0))
    images = [b[0] for b in loader.make_loader(ds, 1, shuffle=False, workers=2, seed=5)]
    assert not (images[0] == images[1]).all()  # worker 0 and worker 1 got the same image


def test_training_reads_16_bit_images_exactly_as_detection_does():
    from srn.data.datasets import to_rgb8
    from srn.imageio import as_rgb8

    ramp = np.arange(0, 65536, 7, dtype=np.uint16)[: 96 * 64].reshape(96, 64)
    for image in (ramp, np.dstack([ramp, ramp[::-1], ramp])):
        np.testing.assert_array_equal(to_rgb8(image), as_rgb8(image, "ramp.png"))
