"""Real pixels for the synthetic dataset, all shipped inside scikit-image (nothing is downloaded).

* Faces: the first 100 images of ``skimage.data.lfw_subset()`` (25×25 grey crops of real faces
  from Labeled Faces in the Wild); the other 100 are non-face crops, used as distractors.
* Backgrounds: real photos shipped with scikit-image. ``astronaut`` and ``camera`` are left out on
  purpose: each shows a real face that would be an unlabelled face (a false "false positive")
  in the ground truth.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Photos with no human face in them; grey ones are tinted when used.
BACKGROUND_NAMES: tuple[str, ...] = (
    "coffee",
    "chelsea",
    "rocket",
    "brick",
    "grass",
    "gravel",
    "coins",
    "moon",
    "hubble_deep_field",
    "motorcycle",
)


@lru_cache(maxsize=1)
def _lfw() -> np.ndarray:
    from skimage import data

    crops = np.asarray(data.lfw_subset(), dtype=np.float32)
    if crops.shape[0] != 200:
        raise RuntimeError(f"skimage.data.lfw_subset() returned {crops.shape[0]} crops, expected 200")
    return crops


def face_crops() -> np.ndarray:
    """(100, 25, 25) float32 in [0, 1]: grey crops of real faces."""
    return _lfw()[:100]


def nonface_crops() -> np.ndarray:
    """(100, 25, 25) float32 in [0, 1]: grey crops that are not faces (distractors)."""
    return _lfw()[100:]


def _load_background(name: str) -> np.ndarray:
    from skimage import data

    if name == "motorcycle":
        image = data.stereo_motorcycle()[0]
    else:
        image = getattr(data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


@lru_cache(maxsize=1)
def backgrounds() -> tuple[np.ndarray, ...]:
    """The background photos as (H, W, 3) uint8 RGB arrays, in ``BACKGROUND_NAMES`` order."""
    return tuple(_load_background(name) for name in BACKGROUND_NAMES)
