"""Normalise whatever image a user opens into the float RGB the enhancement methods work on."""

from __future__ import annotations

import numpy as np

from srn.imageio import DEFAULT_MAX_PIXELS  # the one pixel limit of every reader


class ImageInputError(ValueError):
    """An image the enhancement cannot take (wrong dtype or shape, too many pixels)."""


def _checked_rgb(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """The (H, W, 3) RGB view of ``image`` in its own dtype, after every check."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ImageInputError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")
    h, w = image.shape[:2]
    if h < 1 or w < 1:
        raise ImageInputError(f"empty image of shape {image.shape}")
    if h * w > max_pixels:
        raise ImageInputError(f"image of {w}×{h} = {h * w:,} pixels exceeds the limit of {max_pixels:,} pixels")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ImageInputError(f"unsupported pixel type {image.dtype} (expected uint8, uint16 or float in [0, 1])")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise ImageInputError("float image contains NaN or infinity")
    if image.shape[2] == 1:
        return np.broadcast_to(image, (h, w, 3))
    return image[:, :, :3]


def _channel_to_float(channel: np.ndarray) -> np.ndarray:
    if channel.dtype == np.uint16:
        return channel.astype(np.float32) * np.float32(255.0 / 65535.0)
    if channel.dtype.kind == "f":
        return np.clip(channel, 0.0, 1.0).astype(np.float32) * np.float32(255.0)
    return channel.astype(np.float32)


def to_float_rgb(image: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """(H, W, 3) float32 in [0, 255] from uint8/uint16/float images, grey (H, W) or (H, W, 1), RGB or RGBA.

    uint16 is scaled by 1/257 so 65535 maps to 255; float input must already be in [0, 1].
    Alpha is dropped. Raises ``ImageInputError`` for anything else.
    """
    return np.ascontiguousarray(_channel_to_float(_checked_rgb(image, max_pixels)))


def to_channels(image: np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[np.ndarray]:
    """The three RGB channels as contiguous 2-D arrays: uint8 kept as uint8 (cheap, and log I is
    then a 256-entry table lookup), anything else as float32 in [0, 255]. Same rules as
    ``to_float_rgb``."""
    rgb = _checked_rgb(image, max_pixels)
    if rgb.dtype == np.uint8:
        return [np.ascontiguousarray(rgb[:, :, c]) for c in range(3)]
    return [np.ascontiguousarray(_channel_to_float(rgb[:, :, c])) for c in range(3)]
