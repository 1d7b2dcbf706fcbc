"""Enhance many files: collect inputs, map them to outputs, process, report failures.

Shared by ``srn enhance`` and anything else that exports enhanced images. A file that cannot be
read is reported and skipped; the others are still processed; outputs are written atomically.
An output that cannot be written (a full disk, a read-only folder) stops the batch: the next
would fail the same way, and the caller says what was written before it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from srn.enhance import enhance
from srn.enhance.image_input import DEFAULT_MAX_PIXELS, ImageInputError
from srn.enhance.params import MethodParams
from srn.imageio import ImageReadError, find_images, read_image, write_image


@dataclass
class BatchResult:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (input, message naming it)
    stopped: OSError | None = None  # the write error that ended the batch (its filename: the output)


def plan_outputs(inputs: Iterable[str | os.PathLike[str]], out_dir: Path, ext: str | None) -> list[tuple[Path, Path]]:
    """(input, output) pairs: a file goes to ``out_dir/<name>``, a folder's images (recursive) to
    ``out_dir/<path inside the folder>``. ``ext`` (".png") replaces the suffix; ``None`` keeps it.

    Raises ``FileNotFoundError`` for a missing input and ``ValueError`` when two inputs would
    write the same output file.
    """
    pairs = [(src, out_dir / rel) for src, rel in find_images(inputs)]
    if ext is not None:
        pairs = [(src, dst.with_suffix(ext)) for src, dst in pairs]
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        if dst in seen:
            raise ValueError(f"{seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
    return pairs


def enhance_files(
    pairs: list[tuple[Path, Path]],
    params: MethodParams,
    device: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: Callable[[int, int, Path], None] | None = None,
) -> BatchResult:
    """Enhance each input into its output; input failures are collected, never raised; a write
    failure ends the batch (``result.stopped``)."""
    result = BatchResult()
    for index, (src, dst) in enumerate(pairs, start=1):
        try:
            image = read_image(src)
            out = enhance(image, params, device=device, max_pixels=max_pixels)
        except ImageReadError as exc:
            result.failed.append((src, str(exc)))
        except (ImageInputError, ValueError, OSError) as exc:
            result.failed.append((src, f"{src}: {exc}"))
        else:
            try:
                write_image(dst, out)
            except OSError as exc:
                result.stopped = exc if exc.filename else OSError(exc.errno, exc.strerror, str(dst))
                return result
            result.written.append(dst)
        if progress is not None:
            progress(index, len(pairs), src)
    return result
