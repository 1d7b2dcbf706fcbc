"""AP@0.5 of a checkpoint on freshly generated synthetic night scenes, raw or MSRCR-enhanced.

The demo model's training script, its benchmark and its model card all quote this number, so it
is computed in one place: scenes of ``srn.data.synth`` at the sample project's size (1080×720),
single-scale detection, one-to-one matching of ``srn.eval.matching``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from srn.data.synth import SynthConfig, write_dataset

NIGHT_SET = SynthConfig(width=1080, height=720)
"""Scenes like the sample project's: DARK FACE's image size, faces 12–120 px high."""


def write_night_set(out: str | os.PathLike[str], n: int, seed: int) -> Path:
    """``n`` synthetic scenes of ``seed`` (``out/night``, ``out/label``); reused when complete."""
    out = Path(out)
    if len(list((out / "label").glob("*.txt"))) < n:
        write_dataset(out, n, seed=seed, config=NIGHT_SET)
    return out


def ap_on_night_set(weights: str | os.PathLike[str], folder: str | os.PathLike[str], enhanced: bool,
                    device: str = "cpu", stems: Iterable[str] | None = None, mode: str = "single",
                    detector=None) -> float:
    """AP@0.5 of the checkpoint ``weights`` on ``folder``'s night images (only ``stems`` if given:
    ``"3"`` is ``night/3.png`` with ``label/3.txt``), MSRCR first if ``enhanced``; ``mode`` is
    ``Detector.detect``'s (``"multiscale"``: the authors' multi-scale test). ``detector``: an
    already built ``Detector`` of those weights (another backend or precision) instead."""
    from srn.engine.detector import Detector
    from srn.enhance import MSRCRParams
    from srn.eval.matching import evaluate_ap50
    from srn.formats.darkface import read_label
    from srn.imageio import read_image

    folder = Path(folder)
    detector = detector or Detector.from_checkpoint(weights, device=device)
    gts, preds = [], []
    labels = sorted((folder / "label").glob("*.txt"), key=lambda p: int(p.stem))
    if stems is not None:
        wanted = {str(s) for s in stems}
        labels = [p for p in labels if p.stem in wanted]
    for label in labels:
        image = read_image(folder / "night" / f"{label.stem}.png")
        det = detector.detect(image, enhance=MSRCRParams() if enhanced else None, mode=mode)[0]
        gts.append(read_label(label))
        preds.append((det.boxes.numpy().astype(np.float64), det.scores.numpy().astype(np.float64)))
    return float(evaluate_ap50(gts, preds).ap)
