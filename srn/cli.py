"""``python -m srn`` / ``srn``: the ML command line (no Qt, no database).

Subcommands grow with the project; each lives in a small ``_cmd_*`` function.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from srn import __version__
from srn.engine.backends import BACKEND_CHOICES, BACKEND_ENV, PRECISION_CHOICES, default_backend


def _progress_bar(quiet: bool, unit: str = "image"):
    """``update(done, total, label)`` drawing a tqdm bar on stderr (redrawn in place on a terminal,
    at most every 10 s in a log file); ``quiet``: nothing. The bar closes when ``done == total``."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int, label: str = "") -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            tty = sys.stderr.isatty()
            bar = tqdm(total=total, unit=unit, file=sys.stderr, mininterval=0.2 if tty else 10.0,
                       dynamic_ncols=tty, ascii=None if tty else True, leave=True)
        bar.set_postfix_str(label[-40:], refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


MAX_PIXELS_HELP = ("refuse images with more pixels, as their file header says, before decoding them "
                   "(default: 100,000,000, or $DARKFACE_MAX_PIXELS)")


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

    bar = _progress_bar(args.quiet)

    def progress(done: int, total: int) -> None:
        bar(done, total)

    from srn.fileio import staged_folder

    try:
        with staged_folder(out) as stage:  # all or nothing: a full disk midway leaves OUT as it was
            write_dataset(stage, n=args.n, seed=args.seed, config=config, progress=progress)
    except OSError as exc:
        print(f"srn synth: cannot write {exc.filename or out}: {exc.strerror or exc}; {out} is as it was",
              file=sys.stderr)
        return 1
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    faces = sum(img["faces"] for img in manifest["images"])
    means = sorted(img["mean_brightness"] for img in manifest["images"])
    print(
        f"wrote {args.n} day/night image pairs with {faces} faces to {out} "
        f"(night mean brightness {means[0]:.1f}..{means[-1]:.1f} of 255)"
    )
    return 0


def _enhance_params(args: argparse.Namespace):
    """The method parameters from --preset, --method and --sigmas (later ones override)."""
    from srn.enhance import get_method, params_from_dict

    if args.preset:
        from srn.fileio import read_json_file

        path = Path(args.preset)
        data = read_json_file(path, "preset file")
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a preset is a JSON object with a 'method' field")
        if args.method and data.get("method") != args.method:
            raise ValueError(f"{path} is a {data.get('method')!r} preset but --method {args.method} was given")
        try:
            params = params_from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    else:
        params = get_method(args.method or "msrcr").params_type()
    if args.sigmas:
        if not hasattr(params, "sigmas"):
            raise ValueError(f"--sigmas does not apply to method {params.method!r}")
        try:
            sigmas = tuple(float(v) for v in args.sigmas.split(","))
        except ValueError:
            raise ValueError(f"--sigmas expects comma-separated numbers, got {args.sigmas!r}") from None
        params = params.replace(sigmas=sigmas)
    return params


def _cmd_enhance(args: argparse.Namespace) -> int:
    from srn.enhance.batch import enhance_files, plan_outputs
    from srn.imageio import max_pixels, set_max_pixels

    try:
        set_max_pixels(args.max_pixels)
        params = _enhance_params(args)
        if args.device:
            from srn.engine.device import pick_device

            pick_device(args.device)  # DeviceError (a ValueError) names a missing device
        ext = None if args.ext == "same" else "." + args.ext.lstrip(".")
        pairs = plan_outputs(args.inputs, Path(args.output), ext)
    except (ValueError, FileNotFoundError) as exc:
        print(f"srn enhance: {exc}", file=sys.stderr)
        return 2
    if not pairs:
        print("srn enhance: no images found in the inputs", file=sys.stderr)
        return 2
    bar = _progress_bar(args.quiet)
    result = enhance_files(
        pairs, params, device=args.device, max_pixels=max_pixels(),
        progress=lambda done, total, path: bar(done, total, path.name),
    )
    for _, message in result.failed:
        print(f"srn enhance: skipped {message}", file=sys.stderr)
    if result.stopped is not None:
        print(f"srn enhance: cannot write {result.stopped.filename}: {result.stopped.strerror}; stopped after "
              f"writing {len(result.written)} of {len(pairs)} images into {args.output}", file=sys.stderr)
        return 1
    print(f"enhanced {len(result.written)} of {len(pairs)} images with {params.method} into {args.output}"
          + (f"; {len(result.failed)} failed" if result.failed else ""))
    return 1 if result.failed else 0


def _detect_output(name: str, fmt: str) -> str:
    """The file (wider, darkface) or record name (json) that image ``name`` is written as."""
    rel = Path(name)
    if fmt == "wider":
        return (rel.parent / f"{rel.stem}.txt").as_posix()
    return f"{rel.stem}.txt" if fmt == "darkface" else rel.as_posix()


def _output_clash(inputs: list[tuple[Path, str]], fmt: str) -> str | None:
    """Two inputs that would write the same result (x.png and x.jpg; a/x.png and b/x.png in darkface)."""
    seen: dict[str, Path] = {}
    for path, name in inputs:
        key = _detect_output(name, fmt)
        if key in seen:
            return f"{seen[key]} and {path} would both be written as {key}"
        seen[key] = path
    return None


def _cmd_detect(args: argparse.Namespace) -> int:
    # Everything that can be checked without torch is checked first: a typo answers at once.
    from srn.engine.shipped_models import resolve_weights
    from srn.imageio import find_images

    out = Path(args.out)
    try:
        weights = resolve_weights(args.weights)
        if not weights.is_file():
            raise FileNotFoundError(f"{weights}: no such checkpoint file" if not weights.exists()
                                    else f"{weights} is a folder, not a checkpoint file")
        inputs = [(path, rel.as_posix()) for path, rel in find_images(args.inputs)]
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} is a file; --out names the folder the results go into")
        clash = _output_clash(inputs, args.format)
        if clash:
            raise ValueError(f"{clash}; detect them in separate runs (or into separate --out folders)")
    except (FileNotFoundError, ValueError) as exc:
        print(f"srn detect: {exc}", file=sys.stderr)
        return 2
    if not inputs:
        print("srn detect: no images found in the inputs", file=sys.stderr)
        return 2

    from srn.engine.backends.choose import images_from_files
    from srn.engine.checkpoint import CheckpointError
    from srn.engine.detector import Detector
    from srn.engine.device import DeviceError
    from srn.fileio import atomic_write_text
    from srn.formats import darkface, wider
    from srn.imageio import set_max_pixels

    try:
        set_max_pixels(args.max_pixels)
        backend = args.backend or default_backend()
        enhance = None
        if args.enhance:
            from srn.enhance import get_method

            enhance = get_method(args.enhance).params_type()
        detector = Detector.from_checkpoint(
            weights, device=args.device, backend=backend, precision=args.precision,
            sample_images=lambda: images_from_files((path for path, _ in inputs), enhance),
            hint="THROUGHPUT" if len(inputs) > 1 else "LATENCY",
            log=lambda text: print(f"srn detect: {text}", file=sys.stderr, flush=True))  # one-off lines, not a bar
    except (FileNotFoundError, CheckpointError, DeviceError, ValueError) as exc:
        print(f"srn detect: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # the runtime failed to convert or compile the network
        print(f"srn detect: cannot prepare {weights} for inference: {exc}", file=sys.stderr)
        return 1
    names = dict(inputs)
    mode = "multiscale" if args.multiscale else "single"
    print(f"srn detect: {len(inputs)} images, {mode}, on {detector.device_name}"
          + (f" ({detector.choice.reason})" if detector.choice.reason else ""), file=sys.stderr)
    records, failed, faces, written = [], [], 0, 0
    results = detector.detect_files([p for p, _ in inputs], enhance=enhance, mode=mode, max_size=args.max_size)
    bar = _progress_bar(args.quiet)
    try:
        for done, result in enumerate(results, start=1):
            bar(done, len(inputs), result.path.name)
            if result.error is not None:  # an exception's text may be empty
                failed.append(result.error)
                continue
            det = result.detections
            assert det is not None and result.size is not None  # set together when there is no error
            boxes, scores = det.boxes.cpu().numpy(), det.scores.cpu().numpy()
            keep = scores >= args.min_score
            boxes, scores = boxes[keep], scores[keep]
            faces += len(scores)
            name = names[result.path]
            if args.format == "wider":
                wider.write_prediction(out, name, boxes, scores)
                written += 1
            elif args.format == "darkface":
                darkface.write_submission(out / _detect_output(name, "darkface"), boxes, scores)
                written += 1
            else:
                records.append({
                    "file": name, "height": result.size[0], "width": result.size[1],
                    "boxes": [[round(float(v), 2) for v in b] + [round(float(s), 5)] for b, s in zip(boxes, scores)],
                })
        if args.format == "json":
            payload = {"device": detector.device_name, "mode": mode, "weights": str(args.weights), "images": records}
            atomic_write_text(out / "detections.json", json.dumps(payload, indent=1) + "\n")
    except OSError as exc:  # a full disk, a read-only folder: say where, and what is already there
        where = exc.filename or out
        print(f"srn detect: cannot write {where}: {exc.strerror or exc}; stopped after writing "
              f"{written} result files into {out}"
              + (" (detections.json not written)" if args.format == "json" else ""),
              file=sys.stderr)
        return 1
    for message in failed:
        print(f"srn detect: skipped {message}", file=sys.stderr)
    print(f"detected {faces} faces in {len(inputs) - len(failed)} of {len(inputs)} images into {out} ({args.format})"
          + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0


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

    from srn.enhance.registry import METHODS

    enh = sub.add_parser(
        "enhance",
        help="enhance night images (MSRCR by default) into a folder",
        description=(
            "Enhance image files and folders (searched recursively) with MSRCR or another method "
            "and write the results into OUTDIR, atomically. Unreadable files are reported and "
            "skipped; the exit status is 1 if any failed, 2 for a usage error."
        ),
    )
    enh.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders")
    enh.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    enh.add_argument("--method", choices=list(METHODS), help="enhancement method (default: msrcr, or the preset's)")
    enh.add_argument("--sigmas", metavar="S1,S2,...", help="surround scales in px (default: 15,80,250)")
    enh.add_argument("--preset", metavar="FILE", help="JSON parameters, e.g. from the app or MethodParams.to_json()")
    enh.add_argument("--device", metavar="DEV", help="run the torch implementation on cpu, cuda, cuda:1 or mps")
    enh.add_argument("--ext", default="png", help="output format by extension, or 'same' (default: png)")
    enh.add_argument("--max-pixels", type=int, default=None, metavar="N", help=MAX_PIXELS_HELP)
    enh.add_argument("--quiet", action="store_true", help="no progress bar")
    enh.set_defaults(func=_cmd_enhance)

    det = sub.add_parser(
        "detect",
        help="detect faces with an SRN model",
        description=(
            "Detect faces in image files and folders (searched recursively) with SRN weights (the "
            "authors' SRN.pth or a project checkpoint). Unreadable images are reported and skipped; "
            "the exit status is 1 if any failed, 2 for a usage error."
        ),
    )
    det.add_argument("inputs", nargs="+", metavar="IMAGES_OR_DIRS",
                     help="image files, and folders searched recursively for images")
    det.add_argument("--weights", required=True, metavar="W",
                     help="checkpoint file, or 'demo' for the shipped demo model (synthetic faces)")
    det.add_argument("--out", required=True, metavar="DIR", help="output folder")
    det.add_argument("--format", choices=["wider", "darkface", "json"], default="json",
                     help="wider: <event>/<image>.txt; darkface: <id>.txt; json: detections.json (default)")
    det.add_argument("--enhance", choices=list(METHODS), help="enhance images before the network (e.g. msrcr)")
    det.add_argument("--multiscale", action="store_true", help="the authors' multi-scale test with box voting")
    det.add_argument("--max-size", type=int, default=1400, help="multi-scale pixel budget side (default: 1400)")
    det.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: best available)")
    det.add_argument("--backend", choices=list(BACKEND_CHOICES), default=None,
                     help=f"what runs the network: auto (default, or ${BACKEND_ENV}: OpenVINO on the CPU when "
                          "it loads, torch on a GPU), torch, or openvino (CPU)")
    det.add_argument("--precision", choices=list(PRECISION_CHOICES), default="auto",
                     help="number format of the network: auto (default: the fastest that keeps the boxes, "
                          "checked once per model on the first input images), fp32, bf16 (native CPUs, GPU), "
                          "int8 (OpenVINO with NNCF), fp16 (GPU only)")
    det.add_argument("--min-score", type=float, default=0.0,
                     help="drop detections below this score (default: 0, keep all)")
    det.add_argument("--max-pixels", type=int, default=None, metavar="N", help=MAX_PIXELS_HELP)
    det.add_argument("--quiet", action="store_true", help="no progress bar")
    det.set_defaults(func=_cmd_detect)

    from srn.commands import convert, evaluate, train, weights

    convert.add_parser(sub)
    evaluate.add_parser(sub)
    train.add_parser(sub)
    weights.add_parser(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The project's own warnings (e.g. NaN weights) as one plain ``warning:`` line on stderr;
    other libraries' warnings keep Python's format (file and line help there)."""
    if category.__module__.split(".")[0] == "srn":
        print(f"warning: {message}", file=file or sys.stderr, flush=True)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return int(args.func(args))
    finally:
        warnings.showwarning = _default_show_warning


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
