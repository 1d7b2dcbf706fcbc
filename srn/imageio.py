"""Reading and writing image files, with errors that name the file.

OpenCV's ``imread`` answers ``None`` for a missing, truncated or unsupported file; this module
turns that into an ``ImageReadError`` saying which file and why, reads through bytes (so any
path works on every platform) and writes atomically.

Decompression bombs: a 2.6 MB PNG can decode to 30000×30000 (2.7 GB, and several times that in
the detector). ``read_image`` reads the size from the file header first (``header_size``: no
pixel is decoded) and refuses an image above the pixel limit: one setting for every reader
(``set_max_pixels``, the command lines' ``--max-pixels``, ``$DARKFACE_MAX_PIXELS``; default 100
million pixels, ten 1080p frames).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from srn.fileio import atomic_write_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "DARKFACE_MAX_PIXELS"
_max_pixels: int | None = None


def max_pixels() -> int:
    """The pixel limit every image reader applies (``set_max_pixels``, else the environment, else the default)."""
    if _max_pixels is not None:
        return _max_pixels
    text = os.environ.get(MAX_PIXELS_ENV, "").replace("_", "").replace(",", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_PIXELS


def set_max_pixels(limit: int | None) -> None:
    """Set the process-wide pixel limit (``None``: back to the environment or the default)."""
    global _max_pixels
    if limit is not None and limit < 1:
        raise ValueError(f"the pixel limit must be a positive number, got {limit}")
    _max_pixels = limit


def find_images(inputs) -> list[tuple[Path, Path]]:
    """(file, path relative to its input) for image files and folders (searched recursively,
    sorted); a file given directly is relative to its own folder. Raises ``FileNotFoundError``
    for a missing input."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            found += [(f, f.relative_to(path)) for f in files]
        elif path.exists():
            found.append((path, Path(path.name)))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


class ImageReadError(OSError):
    """An image file that cannot be read; ``str()`` is ``path: reason``."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn the ``OSError`` of opening or reading ``path`` into an ``ImageReadError`` naming it."""
    try:
        yield
    except ImageReadError:  # already names the file (an OSError too)
        raise
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except OSError as exc:
        raise ImageReadError(path, exc.strerror or str(exc)) from None


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


def _pillow_size(path: Path) -> tuple[int, int] | None:
    """Other formats (TIFF, WebP, ...): Pillow parses the header lazily, without decoding pixels."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its own bomb warning: the limit here is ours
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as exc:  # far above Pillow's limit; it says only the pixel count
        counts = [int(t) for t in str(exc).replace("(", " ").split() if t.isdigit()]
        if counts and counts[0] > max_pixels():
            raise ImageReadError(path, f"{counts[0]:,} pixels is over the limit of {max_pixels():,} "
                                       f"(--max-pixels, ${MAX_PIXELS_ENV}); not decoded") from None
        return None
    except Exception:  # not an image Pillow knows: OpenCV decides
        return None


def header_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` from the file header without decoding pixels, or ``None`` if the header
    cannot tell (OpenCV then decodes the file). ``ImageReadError`` for a missing file."""
    path = Path(path)
    with _reading(path), path.open("rb") as fh:
        head = fh.read(32)
        size = None
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            size = struct.unpack(">II", head[16:24])
        elif head.startswith(b"\xff\xd8"):
            size = _jpeg_size(fh)
        elif head.startswith(b"BM") and len(head) >= 26:
            width, height = struct.unpack("<ii", head[18:26])
            size = (width, abs(height))
        elif head:
            size = _pillow_size(path)
    if size and size[0] > 0 and size[1] > 0:
        return int(size[0]), int(size[1])
    return None


def check_pixels(path: str | os.PathLike[str], width: int, height: int, limit: int | None = None, *,
                 decoded: bool = False) -> None:
    """``ImageReadError`` naming the file if ``width × height`` is over the pixel limit
    (``decoded``: the size came from the decoded pixels, the header could not tell)."""
    limit = max_pixels() if limit is None else limit
    if width * height > limit:
        raise ImageReadError(path, f"{width}×{height} = {width * height:,} pixels is over the limit of {limit:,} "
                                   f"(--max-pixels, ${MAX_PIXELS_ENV}); "
                                   + ("refused after decoding (its header did not tell its true size)" if decoded
                                      else "not decoded"))


def read_image(path: str | os.PathLike[str], limit: int | None = None) -> np.ndarray:
    """The image as RGB (H, W, 3), RGBA (H, W, 4) or grey (H, W), in its own bit depth (uint8/uint16).

    Refused before decoding when its header says it has more than ``limit`` pixels (default: the
    process-wide ``max_pixels()``).
    """
    path = Path(path)
    size = header_size(path)
    if size is not None:
        check_pixels(path, *size, limit)
    with _reading(path):
        data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ImageReadError(path, "empty file")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. above OpenCV's own size limit, or a corrupt header
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "OpenCV error"
        raise ImageReadError(path, f"not a readable image ({reason})") from None
    except MemoryError:
        raise ImageReadError(path, "too large to decode in the memory available") from None
    if image is None:
        raise ImageReadError(path, "not a readable image (corrupt, truncated or unsupported format)")
    check_pixels(path, image.shape[1], image.shape[0], limit, decoded=True)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def as_rgb8(image: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """A decoded file (grey, RGBA, 16-bit) as the uint8 RGB the detector takes; ``path`` names it in errors."""
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def encode_image(rgb: np.ndarray, suffix: str, jpeg_quality: int = 95) -> bytes:
    """Encode an RGB/grey uint8 image in the format that ``suffix`` (``.png``, ``.jpg``, ...) names."""
    array = rgb[:, :, ::-1] if rgb.ndim == 3 else rgb
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(array), params)
    if not ok:
        raise ValueError(f"OpenCV cannot encode {suffix!r} images")
    return buf.tobytes()


def write_image(path: str | os.PathLike[str], rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically; the format follows the file extension."""
    path = Path(path)
    return atomic_write_bytes(path, encode_image(rgb, path.suffix or ".png"))
