"""Find the images of a folder and their DARK FACE labels, without Qt.

Kept free of Qt so the same rules (which files count as images, where labels live) can be
reused by command-line tools and tested without a display.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
LABEL_FOLDER = "label"

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key so ``2.png`` comes before ``10.png`` (DARK FACE ids are unpadded numbers).

    ``re.split`` with a capturing group alternates text and digit runs, so two keys always
    compare text with text and numbers with numbers. The raw name breaks ties (``01`` vs ``1``).
    """
    parts = _DIGITS.split(name)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return (key, name)


def is_image_name(name: str) -> bool:
    """True for a visible file name with one of the supported image extensions (any case).

    Dot-files are skipped: they are editor/OS artefacts (macOS ``._x.png``) or temporary files,
    never dataset images.
    """
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith(".")


def scan_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly inside ``folder`` (not recursive), naturally sorted.

    Raises ``OSError`` (``FileNotFoundError``, ``NotADirectoryError``, ``PermissionError``) when
    the folder cannot be listed, so the caller can show why.
    """
    with os.scandir(folder) as entries:  # DirEntry.is_file() needs no extra stat on most systems
        images = [Path(entry.path) for entry in entries if is_image_name(entry.name) and entry.is_file()]
    return sorted(images, key=lambda p: natural_key(p.name))


def label_candidates(image: str | os.PathLike[str]) -> list[Path]:
    """Where the DARK FACE label of ``image`` may live, in lookup order.

    ``<folder>/label/<stem>.txt`` covers labels kept inside the image folder;
    ``<folder>/../label/<stem>.txt`` covers the DARK FACE ``image/`` + ``label/`` pair and the
    sample project's ``night/`` (or ``day/``) + ``label/``.
    """
    image = Path(image)
    name = f"{image.stem}.txt"
    return [image.parent / LABEL_FOLDER / name, image.parent.parent / LABEL_FOLDER / name]


def find_label(image: str | os.PathLike[str]) -> Path | None:
    """The label file of ``image``, or ``None`` when the image has no label."""
    for candidate in label_candidates(image):
        if candidate.is_file():
            return candidate
    return None
