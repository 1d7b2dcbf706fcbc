"""``srn convert``: convert face annotations between WIDER FACE, DARK FACE, COCO, VOC and YOLO.

Every conversion goes through ``srn.formats.records.Annotation`` (inclusive ``x1 y1 x2 y2``);
see each format module for its pixel convention. Which formats there are, what each can hold
and how it is read and written comes from ``srn.formats.registry``. Inputs are read completely and checked before
the first output file is written, and every output file is written atomically.

Exit status: 0 done; 1 the input is malformed (``file:line: ...``) or a box was rejected by
``--outside reject``; 2 a usage error (missing input, sizes needed but no ``--images``, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srn.formats.registry import fit_to_format, format_names, get_format, read_labels, write_labels

FROM_FORMATS = format_names(readable=True)
TO_FORMATS = format_names(writable=True)
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
            ".mat), a DARK FACE label folder, a COCO JSON file, or a Pascal VOC folder of XML files; "
            "OUT is a WIDER FACE file, a DARK "
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
    from srn.formats.images import find_image

    try:
        anns = read_labels(fmt, path)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not get_format(fmt).image_names:  # ids only (DARK FACE): name the actual image file when there is one
        for ann in anns:
            found = find_image(images, ann.name) if images is not None else None
            ann.name = (found.relative_to(images).as_posix() if found is not None and images is not None
                        else f"{ann.name}.png")
    return anns


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
    output = get_format(fmt).output
    if output == "file" and out.is_dir():
        raise UsageError(f"{out} is a folder; --to {fmt} writes a file")
    if output == "folder" and out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file; --to {fmt} writes a folder")


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
    if unsized and (outside != "keep" or get_format(target_format).needs_sizes):
        why = f"--outside {outside}" if outside != "keep" else f"--to {target_format}"
        raise UsageError(f"{why} needs image sizes, unknown for {len(unsized)} images (e.g. {unsized[0]}): "
                         "give the image folder with --images")
    anns, warnings = apply_outside_all(anns, outside)
    anns, lost = fit_to_format(target_format, anns)  # e.g. DARK FACE and VOC hold no box without pixels
    warnings += lost
    try:
        write_labels(target_format, anns, out)
    except ValueError as exc:  # what the format cannot hold: two images with one DARK FACE id, ...
        raise UsageError(str(exc)) from None
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
        folder = (" (a folder output is written all or nothing: it is as it was)"
                  if get_format(args.target_format).output == "folder" else "")
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
