"""Does training work? The seed's experiment table, on the project's synthetic data.

    python benchmarks/train_synth.py [--iters 300] [--finetune-iters 100] [--size 256] [--out DIR]

A small SRN (ResNet-18 from scratch, FPN/head width 64, --size px training crops) is trained on
synthetic *day* images, then evaluated with AP@0.5 (one-to-one, srn.eval) on held-out *night*
images three ways, in the shape of the DARK FACE table of the method this product follows:

  A  day-trained model on raw night images
  B  the same model on MSRCR-enhanced night images
  C  fine-tuned (--init A) on a few labelled MSRCR night images, tested on MSRCR night images

The expected ordering is A < B < C. Everything runs on the CPU; with the defaults it took
11.6 minutes on 2 cores and gave A 0.077 < B 0.263 < C 0.308 (day reference 0.565).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from srn.data.synth import SynthConfig, write_dataset
from srn.engine.detector import Detector
from srn.engine.train import run_training
from srn.engine.train_config import TrainConfig
from srn.enhance import MSRCRParams, enhance
from srn.eval.matching import evaluate_ap50
from srn.formats.darkface import read_label
from srn.imageio import read_image, write_image


def ap_on(detector: Detector, folder: Path, labels: Path, ids: list[int], enhanced: bool) -> float:
    gts, preds = [], []
    for i in ids:
        image = read_image(folder / f"{i}.png")
        if enhanced:
            image = enhance(image, MSRCRParams())
        det = detector.detect(image)[0]
        gts.append(read_label(labels / f"{i}.txt"))
        preds.append((det.boxes.numpy().astype(np.float64), det.scores.numpy().astype(np.float64)))
    return evaluate_ap50(gts, preds).ap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300, help="day training iterations")
    parser.add_argument("--finetune-iters", type=int, default=100)
    parser.add_argument("--train-images", type=int, default=160)
    parser.add_argument("--night-labelled", type=int, default=16, help="labelled night images for C")
    parser.add_argument("--test-images", type=int, default=40)
    parser.add_argument("--size", type=int, default=256, help="training crop size")
    parser.add_argument("--out", type=Path, default=None, help="keep data and checkpoints here")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="train_synth_"))
    started = time.perf_counter()

    # Day training set; a separate night set: the first images are the labelled few for C,
    # the rest are the held-out test images (never trained on).
    config = SynthConfig(width=320, height=240, face_height=(12.0, 80.0))
    day = write_dataset(work / "day_set", args.train_images, seed=1, config=config)
    night = write_dataset(work / "night_set", args.night_labelled + args.test_images, seed=2, config=config)
    few = list(range(1, args.night_labelled + 1))
    test = list(range(args.night_labelled + 1, args.night_labelled + args.test_images + 1))
    enhanced = work / "night_msrcr"
    for i in few:  # the labelled few, enhanced once (what an annotator would have corrected)
        write_image(enhanced / f"{i}.png", enhance(read_image(night / "night" / f"{i}.png"), MSRCRParams()))
    few_labels = work / "few_labels"
    few_labels.mkdir(exist_ok=True)
    for i in few:
        (few_labels / f"{i}.txt").write_bytes((night / "label" / f"{i}.txt").read_bytes())
    print(f"data ready in {time.perf_counter() - started:.0f} s: {args.train_images} day images, "
          f"{len(few)} labelled night images, {len(test)} night test images ({work})", flush=True)

    # From scratch there are no pretrained BatchNorm statistics to freeze: BN trains here (with
    # frozen default statistics, mean 0 / var 1, every BN is an identity and the N(0, 0.01)-initialised
    # ResNet cannot learn). Fine-tuning (C) keeps the statistics A learned.
    common = dict(backbone="resnet18", channels=64, size=args.size, batch_size=8, workers=2, device="cpu",
                  momentum=0.9, weight_decay=1e-4, log_every=50, checkpoint_every=100_000, grad_clip=10.0)
    progress = lambda r: print(json.dumps(r), flush=True) if "iter" in r and r["iter"] % 100 == 0 else None  # noqa: E731

    t = time.perf_counter()
    day_cfg = TrainConfig(data=[{"type": "darkface", "labels": str(day / "label"), "images": str(day / "day")}],
                          lr=0.01, warmup_iters=50, epochs=1000,
                          lr_steps=[int(0.75 * args.iters * 8 / args.train_images) + 1],
                          max_iters=args.iters, freeze_bn=False, **common)
    day_run = run_training(day_cfg, work / "day_model", emit=progress)
    day_minutes = (time.perf_counter() - t) / 60
    losses = day_run.losses
    print(f"day training: {args.iters} iterations in {day_minutes:.1f} min, loss "
          f"{np.mean(losses[:20]):.3f} -> {np.mean(losses[-20:]):.3f}", flush=True)

    t = time.perf_counter()
    ft_cfg = TrainConfig(data=[{"type": "darkface", "labels": str(few_labels), "images": str(enhanced)}],
                         lr=0.003, warmup_iters=0, epochs=10_000, lr_steps=[10_000], max_iters=args.finetune_iters,
                         **common)
    ft_run = run_training(ft_cfg, work / "finetuned", init=day_run.checkpoint, emit=progress)
    ft_minutes = (time.perf_counter() - t) / 60

    day_det = Detector.from_checkpoint(day_run.checkpoint, device="cpu")
    ft_det = Detector.from_checkpoint(ft_run.checkpoint, device="cpu")
    a = ap_on(day_det, night / "night", night / "label", test, enhanced=False)
    b = ap_on(day_det, night / "night", night / "label", test, enhanced=True)
    c = ap_on(ft_det, night / "night", night / "label", test, enhanced=True)
    day_on_day = ap_on(day_det, night / "day", night / "label", test, enhanced=False)

    print()
    print(f"AP@0.5 on {len(test)} held-out synthetic night images (1 run, seeds fixed)")
    print("| model | test input | AP@0.5 |")
    print("|---|---|---|")
    print(f"| A: trained on day images ({args.iters} it) | raw night | {a:.3f} |")
    print(f"| B: same model | MSRCR night | {b:.3f} |")
    print(f"| C: fine-tuned on {len(few)} MSRCR night images ({args.finetune_iters} it) | MSRCR night | {c:.3f} |")
    print(f"| (reference: same model on the day versions of the test images) | day | {day_on_day:.3f} |")
    print(f"ordering A < B < C: {a < b < c}; training took {day_minutes:.1f} + {ft_minutes:.1f} min, "
          f"total {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
