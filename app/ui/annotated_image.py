"""Load one image and its ground-truth boxes, turning every failure into a message.

Bad input is normal when reviewing datasets (a truncated download, a hand-edited label), so
loading never raises: it returns what could be read plus a message naming the file (and line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage, QImageReader

from srn.formats.darkface import read_label
from srn.formats.errors import FormatError


@dataclass(frozen=True)
class AnnotatedImage:
    """An image with its DARK FACE boxes (``x1 y1 x2 y2``, inclusive pixels).

    ``image`` is ``None`` when it could not be decoded (``image_error`` says why). ``boxes`` is
    ``None`` when there is no label file or it is malformed (``label_error`` says why).
    """

    path: Path
    label_path: Path | None
    image: QImage | None
    boxes: np.ndarray | None
    image_error: str | None = None
    label_error: str | None = None


def read_image(path: Path) -> tuple[QImage | None, str | None]:
    """Decode ``path`` with Qt; on failure return ``(None, "Cannot read image <path>: <why>")``."""
    reader = QImageReader(str(path))
    # Same orientation as cv2.imread (which applies EXIF rotation), so labels made with srn line up.
    reader.setAutoTransform(True)
    image = reader.read()
    if image.isNull():
        return None, f"Cannot read image {path}: {reader.errorString()}"
    return image, None


def read_boxes(label_path: Path) -> tuple[np.ndarray | None, str | None]:
    """Read a DARK FACE label; on failure return ``(None, "<file>:<line>: <why>")``."""
    try:
        return read_label(label_path), None
    except FormatError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{label_path}: cannot read label file: {exc.strerror or exc}"


def load_annotated_image(path: Path, label_path: Path | None) -> AnnotatedImage:
    """Read the image and (when there is one) its label; errors are reported, never raised."""
    image, image_error = read_image(path)
    boxes, label_error = read_boxes(label_path) if label_path is not None else (None, None)
    return AnnotatedImage(path, label_path, image, boxes, image_error, label_error)
