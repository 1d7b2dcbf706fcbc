"""Batching: ``collate`` and ``make_loader`` with reproducible augmentation.

Determinism
    ``make_loader(..., seed=s)`` builds the DataLoader with a ``torch.Generator`` seeded with ``s``
    (shuffle order and worker base seeds) and re-seeds the dataset's transform: in the main process
    with ``s`` when ``workers == 0``, and in every worker with torch's per-worker seed
    (``base_seed + worker_id``, itself drawn from that generator) through ``worker_init_fn``. Two
    runs with the same seed, dataset and worker count therefore see the same augmented batches
    (batches are assigned to workers round-robin, so each worker's draws are reproducible). Results
    differ between worker counts. Anything with a ``reseed(seed)`` method is re-seeded: the dataset,
    its ``transform``, and the datasets wrapped by ``Subset`` / ``ConcatDataset``.

Distributed training
    Pass a ``DistributedSampler`` as ``sampler`` (``shuffle`` is then the sampler's business) and
    call its ``set_epoch`` each epoch; use a different ``seed`` per rank (e.g. ``seed + rank``) so
    ranks do not draw identical augmentation streams.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info


def collate(batch):
    """``[(image (3, S, S), target), ...]`` -> ``(images (N, 3, S, S), [target, ...])``.

    Targets keep their keys; ``boxes`` float32 (G, 4), ``ignore`` bool (G,), ``weights`` float32
    (G,) become tensors if they are not already. Images of different sizes are an error naming them.
    """
    images, targets = [], []
    for image, target in batch:
        images.append(torch.as_tensor(image))
        t = dict(target)
        t["boxes"] = torch.as_tensor(t["boxes"], dtype=torch.float32).reshape(-1, 4)
        g = len(t["boxes"])
        t["ignore"] = torch.as_tensor(t.get("ignore", torch.zeros(g, dtype=torch.bool)), dtype=torch.bool)
        t["weights"] = torch.as_tensor(t.get("weights", torch.ones(g)), dtype=torch.float32)
        if "hard_negatives" in t:
            t["hard_negatives"] = torch.as_tensor(t["hard_negatives"], dtype=torch.float32).reshape(-1, 4)
        targets.append(t)
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        where = [f"{t.get('image_path', i)}: {tuple(im.shape)}" for i, (im, t) in enumerate(zip(images, targets))]
        raise ValueError("images of one batch must have the same size; got " + "; ".join(where))
    return torch.stack(images), targets


def reseed(obj, seed: int, _seen: set | None = None) -> None:
    """Call ``reseed(seed)`` on ``obj`` and what it wraps (``dataset``, ``datasets``, ``transform``)."""
    seen = _seen if _seen is not None else set()
    if obj is None or id(obj) in seen:
        return
    seen.add(id(obj))
    if hasattr(obj, "reseed"):
        obj.reseed(seed)
    for name in ("transform", "dataset"):
        reseed(getattr(obj, name, None), seed, seen)
    for child in getattr(obj, "datasets", None) or ():
        reseed(child, seed, seen)


def worker_init(worker_id: int) -> None:
    """``worker_init_fn``: seed numpy, ``random`` and the dataset's transform from torch's
    per-worker seed."""
    info = get_worker_info()
    assert info is not None  # called in a worker process
    seed = int(info.seed) % (2 ** 63)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)
    reseed(info.dataset, seed)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, workers: int = 0, seed: int = 0,
                sampler: Sampler | None = None, *, drop_last: bool = False, pin_memory: bool = False) -> DataLoader:
    """A DataLoader with ``collate`` and reproducible shuffling and augmentation (module docstring)."""
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    if workers == 0:
        reseed(dataset, int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        worker_init_fn=worker_init if workers > 0 else None,
        generator=generator,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )
