"""Image sizes for annotation conversion, read from file headers (PNG, JPEG, BMP) without decoding.

Other formats (and files whose header is unusual) fall back to decoding with OpenCV. The size is
the stored pixel grid; EXIF orientation is not applied (annotations refer to stored pixels).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from srn.imageio import IMAGE_EXTENSIONS, ImageReadError, read_image

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(fh) -> tuple[int, int] | None:
    fh.seek(2)
    while True:
        byte = fh.read(1)
        while byte and byte != b"\xff":
            byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        head = fh.read(2)
        if len(head) != 2:
            return None
        length = struct.unpack(">H", head)[0]
        if marker in _SOF:
            data = fh.read(5)
            if len(data) != 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return width, height
        fh.seek(length - 2, os.SEEK_CUR)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image file; ``ImageReadError`` if it is missing or unreadable."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(32)
            size = None
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                size = struct.unpack(">II", head[16:24])
            elif head.startswith(b"\xff\xd8"):
                size = _jpeg_size(fh)
            elif head.startswith(b"BM") and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                size = (width, abs(height))
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except OSError as exc:
        raise ImageReadError(path, exc.strerror or str(exc)) from None
    if size and size[0] > 0 and size[1] > 0:
        return int(size[0]), int(size[1])
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
