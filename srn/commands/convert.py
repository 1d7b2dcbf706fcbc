"""``srn convert``: convert face annotations between WIDER FACE, DARK FACE, COCO, VOC and YOLO.

Every conversion goes through ``srn.formats.records.Annotation`` (inclusive ``x1 y1 x2 y2``);
see each format module for its pixel convention. Inputs are read completely and checked before
the first output file is written, and every output file is written atomically.

Exit status: 0 done; 1 the input is malformed (``file:line: ...``) or a box was rejected by
``--outside reject``; 2 a usage error (missing input, sizes needed but no ``--images``, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

FROM_FORMATS = ("wider", "darkface", "coco")
TO_FORMATS = ("wider", "darkface", "coco", "voc", "yolo")
_MAX_WARNINGS = 20


class UsageError(Exception):
    """A problem with the command line or the files it names (exit status 2)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``convert`` on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    from srn.formats.records import OUTSIDE_MODES

    p = subparsers.add_parser(
        "convert",
        help="convert face annotations between WIDER FACE, DARK FACE, COCO, VOC and YOLO",
        description=(
            "Convert face annotations. IN is a WIDER FACE ground-truth file (.txt, or the official "
            ".mat), a DARK FACE label folder, or a COCO JSON file; OUT is a WIDER FACE file, a DARK "
            "FACE label folder, a COCO JSON file, or a VOC / YOLO folder. Image sizes (needed by "
            "COCO, VOC, YOLO and by --outside clip/reject) come from the COCO file or from the image "
            "headers in --images. Exit status: 0 done, 1 malformed input or a rejected box, 2 usage error."
        ),
    )
    p.add_argument("--from", dest="source_format", choices=FROM_FORMATS, required=True, help="input format")
    p.add_argument("--to", dest="target_format", choices=TO_FORMATS, required=True, help="output format")
    p.add_argument("input", metavar="IN", help="input file or folder")
    p.add_argument("output", metavar="OUT", help="output file (wider, coco) or folder (darkface, voc, yolo)")
    p.add_argument("--images", metavar="DIR", help="image root: names in the annotations are relative to it")
    p.add_argument("--outside", choices=OUTSIDE_MODES, default="keep",
                   help="boxes outside the image: keep (default; reported), clip, or reject (error)")
    p.add_argument("--quiet", action="store_true", help="no warnings, only errors")
    p.set_defaults(func=run)
    return p


def _load(fmt: str, path: Path, images: Path | None):
    from srn.formats import coco, darkface, wider
    from srn.formats.images import find_image
    from srn.formats.records import from_darkface, from_wider

    if fmt == "wider":
        if not path.is_file():
            raise UsageError(f"{path}: no such file (a WIDER FACE ground-truth .txt or .mat file expected)")
        records = wider.read_mat_ground_truth(path).records() if path.suffix.lower() == ".mat" else wider.read_gt(path)
        return [from_wider(r) for r in records]
    if fmt == "darkface":
        if not path.is_dir():
            raise UsageError(f"{path}: no such folder (a DARK FACE label folder expected)")
        anns = from_darkface(darkface.read_labels_folder(path), folder=path)
        if images is not None:  # name the actual image file when there is one (e.g. .jpg instead of .png)
            for ann in anns:
                found = find_image(images, ann.name)
                if found is not None:
                    ann.name = found.relative_to(images).as_posix()
        return anns
    if not path.is_file():
        raise UsageError(f"{path}: no such file (a COCO JSON file expected)")
    return coco.import_coco(path, ground_truth_only=True)


def _attach_sizes(anns, images: Path) -> None:
    from srn.formats.images import ImageReadError, find_image, image_size

    missing = []
    for ann in anns:
        if ann.width is not None:
            continue
        found = find_image(images, ann.name)
        if found is None:
            missing.append(ann.name)
            continue
        try:
            ann.width, ann.height = image_size(found)
        except ImageReadError as exc:
            raise UsageError(str(exc)) from None
    if missing:
        raise UsageError(f"{images}: no image for {len(missing)} of {len(anns)} annotated images, e.g. {missing[0]}")


def _check_output(fmt: str, out: Path) -> None:
    if fmt in ("wider", "coco") and out.is_dir():
        raise UsageError(f"{out} is a folder; --to {fmt} writes a file")
    if fmt in ("darkface", "voc", "yolo") and out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; --to {fmt} writes a folder")


def _write(fmt: str, anns, out: Path) -> None:
    """Write ``anns`` as ``fmt``; a folder format all or nothing (``staged_folder``)."""
    from srn.fileio import staged_folder
    from srn.formats import coco, darkface, voc, wider, yolo
    from srn.formats.records import to_darkface, to_wider

    if fmt == "wider":
        wider.write_gt(out, [to_wider(a) for a in anns])
    elif fmt == "coco":
        coco.export_coco(anns, out)
    elif fmt == "darkface":
        try:
            labels = to_darkface(anns)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        with staged_folder(out) as stage:
            darkface.write_labels_folder(stage, labels)
    else:
        export = voc.export_voc if fmt == "voc" else yolo.export_yolo
        with staged_folder(out) as stage:
            export(anns, stage)


def convert(source_format: str, target_format: str, input_path, output_path, images=None,
            outside: str = "keep") -> tuple[int, int, list[str]]:
    """Convert; returns (images, faces, warnings). Raises ``UsageError`` or ``FormatError``."""
    from srn.formats.errors import FormatError
    from srn.formats.records import apply_outside_all

    src, out = Path(input_path), Path(output_path)
    images = Path(images) if images is not None else None
    if images is not None and not images.is_dir():
        raise UsageError(f"{images}: no such folder (--images)")
    if src.resolve() == out.resolve():
        raise UsageError(f"{src}: input and output are the same path")
    _check_output(target_format, out)
    anns = _load(source_format, src, images)
    if not anns:
        raise FormatError(src, None, "no annotated images in it (an empty file or folder); nothing to convert")
    if images is not None:
        _attach_sizes(anns, images)
    unsized = [a.name for a in anns if a.width is None]
    if unsized and (outside != "keep" or target_format in ("coco", "voc", "yolo")):
        why = f"--outside {outside}" if outside != "keep" else f"--to {target_format}"
        raise UsageError(f"{why} needs image sizes, unknown for {len(unsized)} images (e.g. {unsized[0]}): "
                         "give the image folder with --images")
    anns, warnings = apply_outside_all(anns, outside)
    if target_format in ("darkface", "voc"):  # these formats cannot hold a box of zero width or height
        for i, ann in enumerate(anns):
            empty = (ann.boxes[:, 2] < ann.boxes[:, 0]) | (ann.boxes[:, 3] < ann.boxes[:, 1])
            for k in np.flatnonzero(empty):
                path, line = ann.where(int(k))
                warnings.append(f"{path}:{line}: box of {ann.name} has no pixels (w or h is 0); dropped"
                                if line is not None else f"{path}: box of {ann.name} has no pixels; dropped")
            if empty.any():
                anns[i] = ann.select(~empty)
    _write(target_format, anns, out)
    return len(anns), sum(len(a.boxes) for a in anns), warnings


def run(args: argparse.Namespace) -> int:
    """Run ``srn convert`` for parsed ``args``; returns the exit status."""
    from srn.formats.errors import FormatError

    try:
        n_images, n_faces, warnings = convert(args.source_format, args.target_format, args.input, args.output,
                                              args.images, args.outside)
    except FormatError as exc:  # malformed input (a ValueError, so caught first)
        print(f"srn convert: {exc}", file=sys.stderr)
        return 1
    except (UsageError, FileNotFoundError, ValueError) as exc:
        print(f"srn convert: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk or an unwritable folder while writing
        folder = " (a folder output is written all or nothing: it is as it was)" if args.target_format in (
            "darkface", "voc", "yolo") else ""
        print(f"srn convert: cannot write {exc.filename or args.output}: {exc.strerror or exc}{folder}",
              file=sys.stderr)
        return 1
    if not args.quiet:
        for message in warnings[:_MAX_WARNINGS]:
            print(f"srn convert: warning: {message}", file=sys.stderr)
        if len(warnings) > _MAX_WARNINGS:
            print(f"srn convert: warning: ... and {len(warnings) - _MAX_WARNINGS} more", file=sys.stderr)
    print(f"converted {n_images} images with {n_faces} faces from {args.source_format} to {args.target_format} "
          f"into {args.output}" + (f" ({len(warnings)} warnings)" if warnings else ""))
    return 0
