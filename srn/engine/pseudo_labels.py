"""Pseudo-labels: faces an existing model finds on unlabelled images, as low-weight targets.

Before fine-tuning, the initial model (``--init``) runs single-scale on every image of a folder
(the same enhancement as training, when there is one); detections scoring at least
``threshold`` become faces with loss weight ``weight``. The images are marked *not fully
labelled* (faces the model missed are not known negatives).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from srn.data.samples import TrainSample
from srn.imageio import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from srn.model.srn_net import SRN


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (pseudo-label images expected)")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def pseudo_label_samples(model: SRN, folder: str | os.PathLike[str], threshold: float = 0.8,
                         weight: float = 0.5, *, device: str | torch.device = "cpu", enhance=None,
                         enhance_cache: str | os.PathLike[str] | None = None) -> list[TrainSample]:
    """One ``TrainSample`` per image of ``folder``: boxes the model scores ``>= threshold``, each
    with ``weight``. ``model`` is copied; the caller's model is left as it was."""
    from srn.data.datasets import EnhanceCache
    from srn.engine.detector import Detector

    detector = Detector(copy.deepcopy(model), device=device, channels_last=False)
    cache = EnhanceCache(enhance_cache)
    samples = []
    for path in image_files(folder):
        image = cache.load(path, enhance)
        det = detector.detect([image], mode="single")[0]
        keep = np.asarray(det.scores) >= threshold
        boxes = np.asarray(det.boxes, dtype=np.float64).reshape(-1, 4)[keep]
        samples.append(TrainSample(path, boxes, weights=np.full(len(boxes), weight, dtype=np.float32),
                                   fully_labelled=False))
    return samples
