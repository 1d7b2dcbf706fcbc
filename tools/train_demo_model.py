"""Train the demo model shipped in ``resources/models/`` (for trying the app, not for real faces).

    python tools/train_demo_model.py [--work DIR] [--iters 1500] [--out resources/models/demo-srn-r18.pth]

A small SRN (ResNet-18 from scratch, FPN/head width 64) is trained on the project's own synthetic
data (``srn.data.synth``: real LFW face crops pasted on real photos, degraded to night by the
camera model), 1080×720 like the sample project: the day images and the MSRCR-enhanced night
images of one scene set (seed 1), 256 px data-anchor-sampling crops. Every seed is fixed, so the
same command on the same software gives the same weights (up to the CPU's floating-point order).

The final weights are stored as float16 (they load into the float32 network unchanged) with
the training summary and the held-out AP@0.5 (single scale, raw and MSRCR) in the checkpoint's
metadata, written atomically.
The held-out set is generated with another seed (2) and is never trained on; the benchmark
``benchmarks/demo_model.py`` measures the shipped file again on yet another seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from srn.data.synth import write_dataset  # noqa: E402
from srn.engine.checkpoint import save_half_precision  # noqa: E402
from srn.engine.train import run_training  # noqa: E402
from srn.engine.train_config import TrainConfig  # noqa: E402
from srn.enhance import MSRCRParams, enhance  # noqa: E402
from srn.eval.synthetic import NIGHT_SET, ap_on_night_set, write_night_set  # noqa: E402
from srn.imageio import read_image, write_image  # noqa: E402

TRAIN_SEED, HELD_OUT_SEED = 1, 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="data and training run (default: a temp folder)")
    parser.add_argument("--images", type=int, default=300, help="synthetic training scenes (day + night each)")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--size", type=int, default=256, help="training crop size")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--held-out", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "models" / "demo-srn-r18.pth")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="demo_model_"))
    started = time.perf_counter()

    data = work / "train"
    if not (data / "msrcr").is_dir() or len(list((data / "msrcr").glob("*.png"))) < args.images:
        write_dataset(data, args.images, seed=TRAIN_SEED, config=NIGHT_SET)
        for path in sorted((data / "night").glob("*.png")):
            write_image(data / "msrcr" / path.name, enhance(read_image(path), MSRCRParams()))
    print(f"data ready in {time.perf_counter() - started:.0f} s ({work})", flush=True)

    batch = 8
    per_epoch = 2 * args.images / batch
    config = TrainConfig(
        data=[{"type": "darkface", "labels": str(data / "label"), "images": str(data / "day")},
              {"type": "darkface", "labels": str(data / "label"), "images": str(data / "msrcr")}],
        backbone="resnet18", channels=64, size=args.size, batch_size=batch, workers=1, device="cpu",
        lr=args.lr, warmup_iters=50, epochs=1000, lr_steps=[int(0.8 * args.iters / per_epoch) + 1],
        max_iters=args.iters, freeze_bn=False, grad_clip=10.0, log_every=25, checkpoint_every=200, seed=0,
    )
    t = time.perf_counter()
    last = work / "run" / "last.pth"
    resumed = last.exists()
    run = run_training(config, work / "run", resume=last if resumed else None,
                       emit=lambda r: print(json.dumps(r), flush=True))
    train_minutes = None if resumed else round((time.perf_counter() - t) / 60, 1)  # a resumed run's is partial
    if not run.completed:
        raise SystemExit("training was stopped; run the same command with the same --work to resume")

    held_out = write_night_set(work / "held_out", args.held_out, seed=HELD_OUT_SEED)
    raw = ap_on_night_set(run.checkpoint, held_out, enhanced=False)
    msrcr = ap_on_night_set(run.checkpoint, held_out, enhanced=True)
    metrics = {"held_out_ap50_raw": round(raw, 4), "held_out_ap50_msrcr": round(msrcr, 4),
               "held_out_images": args.held_out, "held_out_seed": HELD_OUT_SEED}
    training = {"source": "srn.data.synth (LFW faces on photos, day + MSRCR night)", "seed": TRAIN_SEED,
                "images": 2 * args.images, "iterations": args.iters, "minutes_on_cpu": train_minutes,
                "command": "python tools/train_demo_model.py"}
    size = save_half_precision(run.checkpoint, args.out, training_data=training, metrics=metrics)
    print(json.dumps({"checkpoint": str(args.out), "bytes": size, **metrics, **training}, indent=2))


if __name__ == "__main__":
    main()
