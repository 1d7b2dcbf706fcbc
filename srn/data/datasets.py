"""Training datasets: adapters from WIDER FACE, DARK FACE and in-memory corrections to
``TrainSample`` lists, and the torch ``FaceDataset`` that reads, enhances and transforms them.

Adapters
    ``wider_samples(gt_file, image_root)``: faces marked *invalid* and boxes under 2 px become
    ignore regions; images are fully labelled. ``darkface_samples(label_folder, image_folder)``:
    labels and images matched by file stem (``12.txt`` <-> ``12.png``); a label without an image is
    an error naming the label (images without labels are not training samples).
    ``samples_from_records(records)``: what the app feeds back (see its docstring).

Enhancement cache
    ``FaceDataset(..., enhance=params, cache_dir=...)`` (or a sample's own ``enhance``) runs
    ``srn.enhance.enhance(image, params)`` before the transform and keeps the result on disk as
    ``<cache_dir>/<params hash>/<key>.png``, where ``params hash`` is the first 16 hex digits of the
    sha256 of ``params.to_json()`` and ``key`` is the sha256 of ``params JSON``, the resolved image
    path, its modification time (ns) and its size, one per line. Editing or replacing an image
    changes its key, so stale results are never read; deleting ``<cache_dir>/<params hash>``
    drops one parameter set. Files are written atomically (a crashed worker leaves no half PNG);
    a cache file that cannot be read is recomputed and rewritten. Without ``cache_dir`` the
    enhancement is computed on every read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from srn.data import augment
from srn.data.samples import TrainSample
from srn.formats import darkface, wider
from srn.imageio import IMAGE_EXTENSIONS, ImageReadError, as_rgb8, check_pixels, header_size, read_image, write_image

_INVALID = wider.ATTRIBUTES.index("invalid")


class DatasetError(ValueError):
    """A dataset that cannot be assembled (missing image, ambiguous match); the message names the file."""


# ---------------------------------------------------------------------------------------------
# Adapters


def wider_samples(gt_file: str | os.PathLike[str], image_root: str | os.PathLike[str], *,
                  check_images: bool = True, fully_labelled: bool = True) -> list[TrainSample]:
    """One ``TrainSample`` per record of a WIDER FACE ground-truth file; image paths are
    ``image_root / name``. ``check_images`` makes a missing image an error naming it."""
    image_root = Path(image_root)
    samples = []
    for rec in wider.read_gt(gt_file):
        path = image_root / rec.name
        if check_images and not path.is_file():
            raise DatasetError(f"{path}: image of {rec.name!r} in {gt_file} not found")
        invalid = rec.attributes[:, _INVALID] != 0
        samples.append(TrainSample(path, wider.xywh_to_xyxy(rec.boxes), ignore=invalid, fully_labelled=fully_labelled))
    return samples


def _images_by_stem(folder: Path) -> dict[str, list[Path]]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (images expected)")
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."):
            found.setdefault(p.stem, []).append(p)
    return found


def darkface_samples(label_folder: str | os.PathLike[str], image_folder: str | os.PathLike[str], *,
                     fully_labelled: bool = True) -> list[TrainSample]:
    """One ``TrainSample`` per DARK FACE label file (id order), its image found by stem in
    ``image_folder``. A label without an image, or with several images of that stem, is an error."""
    label_folder = Path(label_folder)
    labels = darkface.read_labels_folder(label_folder)
    images = _images_by_stem(Path(image_folder))
    samples = []
    for stem, boxes in labels.items():
        matches = images.get(stem, [])
        if not matches:
            raise DatasetError(f"{label_folder / (stem + '.txt')}: no image {stem}.* in {image_folder}")
        if len(matches) > 1:
            raise DatasetError(f"{label_folder / (stem + '.txt')}: several images match: "
                               f"{', '.join(p.name for p in matches)}")
        samples.append(TrainSample(matches[0], boxes, fully_labelled=fully_labelled))
    return samples


def samples_from_records(records: Iterable, *, fully_labelled: bool = True) -> list[TrainSample]:
    """``TrainSample``s from in-memory records, e.g. the app's corrections.

    A record is a ``TrainSample`` (kept), a mapping with ``image_path`` (or ``path``), ``boxes`` and
    optional ``ignore``, ``weights`` (per box, or one number for all), ``hard_negatives``,
    ``fully_labelled``, ``enhance``; or a sequence ``(image_path, boxes[, ignore[, weights[,
    hard_negatives]]])``. The tiny-box rule applies as for every sample."""
    out = []
    for i, rec in enumerate(records):
        if isinstance(rec, TrainSample):
            out.append(rec)
            continue
        if isinstance(rec, Mapping):
            data = dict(rec)
            path = data.pop("image_path", None) or data.pop("path", None)
            if path is None:
                raise DatasetError(f"record {i}: no image_path")
            data.setdefault("fully_labelled", fully_labelled)
            unknown = set(data) - {"boxes", "ignore", "weights", "hard_negatives", "fully_labelled", "enhance"}
            if unknown:
                raise DatasetError(f"record {i} ({path}): unknown field(s) {', '.join(sorted(unknown))}")
            out.append(TrainSample(Path(path), **data))
        elif isinstance(rec, Sequence) and 2 <= len(rec) <= 5 and not isinstance(rec, str):
            fields = dict(zip(("ignore", "weights", "hard_negatives"), rec[2:]))
            out.append(TrainSample(Path(rec[0]), rec[1], fully_labelled=fully_labelled, **fields))
        else:
            raise DatasetError(f"record {i}: expected a mapping or (image_path, boxes[, ignore[, weights"
                               f"[, hard_negatives]]]), got {type(rec).__name__}")
    return out


# ---------------------------------------------------------------------------------------------
# Images and the enhancement cache


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Grey, RGBA and 16-bit images as RGB uint8 (H, W, 3): ``srn.imageio.as_rgb8``, which the
    detector uses (training must see the pixels inference sees), plus what only training meets:
    float results of ``srn.enhance`` (clipped) and single-channel (H, W, 1) arrays."""
    if image.dtype not in (np.uint8, np.uint16):
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return as_rgb8(image, "")


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as RGB uint8; ``ImageReadError`` (naming the file) when it cannot be read."""
    return to_rgb8(read_image(path))


def check_images_readable(samples: Sequence[TrainSample], max_listed: int = 20) -> None:
    """``DatasetError`` listing every sample image that cannot be read: missing, over the pixel
    limit, or with a header no reader knows (those few are decoded to be sure). Headers only
    otherwise, so a large set is checked in seconds; a file damaged past its header is met,
    skipped and warned about during training."""
    problems = []
    for path in dict.fromkeys(Path(s.image_path) for s in samples):
        try:
            size = header_size(path)
            if size is None:
                read_image(path)
            else:
                check_pixels(path, *size)
        except ImageReadError as exc:
            problems.append(str(exc))
    if problems:
        listed = "; ".join(problems[:max_listed]) + (f"; … ({len(problems) - max_listed} more)"
                                                     if len(problems) > max_listed else "")
        raise DatasetError(f"{len(problems)} training image(s) cannot be read (fix or remove them; nothing was "
                           f"trained): {listed}")


def params_hash(params) -> str:
    """The cache folder name of a parameter set: 16 hex digits of sha256(params JSON)."""
    return hashlib.sha256(params.to_json().encode("utf-8")).hexdigest()[:16]


def cache_key(params, path: str | os.PathLike[str]) -> str:
    """sha256 of params JSON, resolved image path, mtime (ns) and size (module docstring)."""
    path = Path(path)
    st = path.stat()
    text = "\n".join([params.to_json(), str(path.resolve()), str(st.st_mtime_ns), str(st.st_size)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _run_enhance(image: np.ndarray, params) -> np.ndarray:
    from srn.enhance import enhance

    return to_rgb8(enhance(image, params))


class EnhanceCache:
    """``srn.enhance`` results cached on disk (module docstring). ``computed`` and ``hits`` count
    what this instance (this process) did."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.computed = 0
        self.hits = 0

    def path_for(self, params, image_path: str | os.PathLike[str]) -> Path:
        if self.cache_dir is None:
            raise ValueError("no cache folder")
        return self.cache_dir / params_hash(params) / f"{cache_key(params, image_path)}.png"

    def load(self, image_path: str | os.PathLike[str], params=None) -> np.ndarray:
        """The image as training sees it: enhanced with ``params`` (through the cache), or as read."""
        return load_rgb(image_path) if params is None else self(image_path, params)

    def __call__(self, image_path: str | os.PathLike[str], params,
                 image: np.ndarray | None = None) -> np.ndarray:
        """The enhanced RGB uint8 image of ``image_path`` (read from the cache, or computed from
        ``image`` / the file and stored)."""
        target = self.path_for(params, image_path) if self.cache_dir is not None else None
        if target is not None and target.is_file():
            try:
                result = load_rgb(target)
                self.hits += 1
                return result
            except ImageReadError:
                pass  # damaged cache file: recompute and overwrite
        if image is None:
            image = load_rgb(image_path)
        result = _run_enhance(image, params)
        self.computed += 1
        if target is not None:
            write_image(target, result)
        return result


# ---------------------------------------------------------------------------------------------
# The torch dataset


class FaceDataset(Dataset):
    """``samples[i]`` -> ``transform(image, target)``.

    The image is read as RGB uint8 (an unreadable file raises ``ImageReadError`` naming it; nothing
    is skipped), enhanced when the sample or the dataset has ``srn.enhance`` parameters (cached
    under ``cache_dir``), and the target is a dict of numpy arrays (``boxes``, ``ignore``,
    ``weights``, ``hard_negatives``) plus ``fully_labelled``, ``image_path`` and ``index``.
    ``transform`` returns ``(image tensor, target)`` (``augment.TrainTransform``); without one,
    the image is only normalised (``augment.to_tensors``).
    """

    def __init__(self, samples: Sequence[TrainSample],
                 transform: Callable[[np.ndarray, dict], tuple[torch.Tensor, dict]] | None = None, *,
                 enhance=None, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.enhance = enhance
        self.cache = EnhanceCache(cache_dir)

    def __len__(self) -> int:
        return len(self.samples)

    def reseed(self, seed: int) -> None:
        """Give the transform a fresh generator (``srn.data.loader`` calls this in each worker)."""
        if self.transform is not None and hasattr(self.transform, "reseed"):
            self.transform.reseed(seed)

    def load_image(self, index: int) -> np.ndarray:
        """The (enhanced) RGB uint8 image of sample ``index``, before the transform."""
        sample = self.samples[index]
        params = sample.enhance if sample.enhance is not None else self.enhance
        return self.cache.load(sample.image_path, params)

    def target(self, index: int) -> dict:
        s = self.samples[index]
        return augment.make_target(s.boxes, s.ignore, s.weights, s.hard_negatives,
                                   fully_labelled=s.fully_labelled, image_path=str(s.image_path), index=index)

    def __getitem__(self, index: int):
        image = self.load_image(index)
        target = self.target(index)
        if self.transform is None:
            return augment.to_tensors(image, target)
        return self.transform(image, target)
