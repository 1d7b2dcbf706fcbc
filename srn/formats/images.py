"""Image sizes for annotation conversion, read from file headers without decoding (``header_size``).

Files whose header does not tell fall back to decoding with OpenCV (under the pixel limit). The size is
the stored pixel grid; EXIF orientation is not applied (annotations refer to stored pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

from srn.imageio import IMAGE_EXTENSIONS, ImageReadError, header_size, read_image


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image file; ``ImageReadError`` if it is missing or unreadable."""
    size = header_size(path)
    if size is not None:
        return size
    image = read_image(path)
    return int(image.shape[1]), int(image.shape[0])


def find_image(root: str | os.PathLike[str], name: str) -> Path | None:
    """The image file for annotation ``name`` under ``root``: ``root/name`` itself, else the same
    path with any image extension (DARK FACE ids name ``<id>.png``), else ``None``."""
    root = Path(root)
    direct = root / name
    if direct.suffix.lower() in IMAGE_EXTENSIONS and direct.is_file():
        return direct
    rel = Path(name)
    stem = rel.name[: -len(rel.suffix)] if rel.suffix.lower() in IMAGE_EXTENSIONS else rel.name
    for ext in IMAGE_EXTENSIONS:
        for candidate in (root / rel.parent / f"{stem}{ext}", root / rel.parent / f"{stem}{ext.upper()}"):
            if candidate.is_file():
                return candidate
    return None


__all__ = ["ImageReadError", "find_image", "image_size"]
