"""Reading and writing image files, with errors that name the file.

OpenCV's ``imread`` answers ``None`` for a missing, truncated or unsupported file; this module
turns that into an ``ImageReadError`` saying which file and why, reads through bytes (so any
path works on every platform) and writes atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from srn.fileio import atomic_write_bytes

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


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


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The image as RGB (H, W, 3), RGBA (H, W, 4) or grey (H, W), in its own bit depth (uint8/uint16)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image") from None
    except OSError as exc:
        raise ImageReadError(path, exc.strerror or str(exc)) from None
    if data.size == 0:
        raise ImageReadError(path, "empty file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageReadError(path, "not a readable image (corrupt, truncated or unsupported format)")
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
