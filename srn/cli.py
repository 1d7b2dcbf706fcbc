"""``python -m srn`` / ``srn``: the ML command line (no Qt, no database).

Subcommands grow with the project; each lives in a small ``_cmd_*`` function.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from srn import __version__


def _cmd_synth(args: argparse.Namespace) -> int:
    from srn.data.lowlight import LowLightParams
    from srn.data.synth import MANIFEST_FILE, SynthConfig, write_dataset

    out = Path(args.out)
    if args.n < 1:
        print(f"srn synth: --n must be at least 1, got {args.n}", file=sys.stderr)
        return 2
    if out.exists() and not out.is_dir():
        print(f"srn synth: {out} exists and is not a folder", file=sys.stderr)
        return 2
    if out.is_dir() and any(out.iterdir()) and not args.force:
        print(f"srn synth: {out} is not empty (use --force to write into it)", file=sys.stderr)
        return 2
    try:
        config = SynthConfig(
            width=args.width,
            height=args.height,
            lowlight=LowLightParams(jpeg_probability=args.jpeg_probability),
        )
    except ValueError as exc:
        print(f"srn synth: {exc}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done == total or done % max(1, total // 20) == 0):
            print(f"\r{done}/{total} images", end="\n" if done == total else "", file=sys.stderr, flush=True)

    write_dataset(out, n=args.n, seed=args.seed, config=config, progress=progress)
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    faces = sum(img["faces"] for img in manifest["images"])
    means = sorted(img["mean_brightness"] for img in manifest["images"])
    print(
        f"wrote {args.n} day/night image pairs with {faces} faces to {out} "
        f"(night mean brightness {means[0]:.1f}..{means[-1]:.1f} of 255)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srn", description="DarkFace Studio ML command line (SRN face detector).")
    parser.add_argument("--version", action="version", version=f"srn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    synth = sub.add_parser(
        "synth",
        help="generate synthetic day/night face images with WIDER FACE and DARK FACE labels",
        description=(
            "Compose real face crops (scikit-image's LFW subset) onto real photos, degrade them to "
            "night with a camera noise model, and write day/, night/, label/ (DARK FACE), "
            "wider_face_gt.txt (WIDER FACE) and synth.json into OUT. Deterministic for a seed."
        ),
    )
    synth.add_argument("out", help="output folder (created; must be empty unless --force)")
    synth.add_argument("--n", type=int, default=100, help="number of images (default: 100)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--width", type=int, default=640, help="image width in px (default: 640)")
    synth.add_argument("--height", type=int, default=427, help="image height in px (default: 427)")
    synth.add_argument(
        "--jpeg-probability", type=float, default=0.3, help="share of night images JPEG-compressed (default: 0.3)"
    )
    synth.add_argument("--force", action="store_true", help="write into a non-empty folder")
    synth.add_argument("--quiet", action="store_true", help="no progress output")
    synth.set_defaults(func=_cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
