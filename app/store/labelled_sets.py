"""Which labelled set an evaluation scored: dataset keys, fingerprints of the ground truth, the
held-out ground truth itself.

Datasets are string keys: ``"heldout"`` is the project's ``val`` split (reviewed images only, see
``heldout_ground_truth``); ``"labels:<parent>/<name>#<hash>"`` an imported label file or folder
(``labels_dataset``: every DARK FACE label folder is called ``label``, so the key carries a hash
of the resolved path).

A fingerprint (sha256 hex) says *which version* of a set was scored: for the held-out set, of
its images and their ground-truth boxes (``ground_truth_fingerprint``, ``heldout_fingerprint``);
for an imported label set, of the label files' contents (``label_files_fingerprint``). Each
stored evaluation keeps the fingerprint it was scored against (``app.store.evaluations``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from app.store.database import chunks
from app.store.errors import StoreError
from app.store.project import Project
from app.store.tables import Box, Image
from app.store.training import VAL

HELDOUT = "heldout"
HELDOUT_SPLIT = VAL
"""The ``Image.split`` value of the held-out images."""
LABELS_PREFIX = "labels:"
GROUND_TRUTH_STATES = ("accepted",)
"""Box states that are ground truth: accepted boxes of any source (human, imported, accepted model)."""



_KEY_HASH_CHARS = 10
_KEY_PART_CHARS = 120
"""The readable parts of a label-set key are cut to this many characters (the column holds 300)."""


def labels_dataset(path: str | Path) -> str:
    """The dataset key of an imported label file or folder: ``"labels:<parent>/<name>#<hash>"``.

    ``<hash>`` is the start of the sha256 of the resolved path, so two DARK FACE ``label`` folders
    (or two ``wider_face_val_bbx_gt.txt`` files) are different datasets; ``<parent>/<name>`` keeps
    the key readable (``dataset_title``). The same set under another spelling of its path
    (relative, ``..``, a symbolic link) gets the same key.
    """
    resolved = Path(path).expanduser().resolve()
    name = resolved.name
    if not name:
        raise StoreError(f"{path}: a label file or folder has no name to key the dataset by")
    digest = hashlib.sha256(os.path.normcase(str(resolved)).encode("utf-8", "surrogateescape")).hexdigest()
    parent = resolved.parent.name[:_KEY_PART_CHARS]
    return f"{LABELS_PREFIX}{parent}/{name[:_KEY_PART_CHARS]}#{digest[:_KEY_HASH_CHARS]}"


def check_dataset(dataset: str) -> None:
    if dataset == HELDOUT or (dataset.startswith(LABELS_PREFIX) and len(dataset) > len(LABELS_PREFIX)):
        return
    raise StoreError(f"dataset must be {HELDOUT!r} or a label set's key (labels_dataset), got {dataset!r}")


def dataset_title(dataset: str) -> str:
    """How the view names a dataset key: ``"label (…/night_test) #1a2b3c"`` for a label set."""
    if dataset == HELDOUT:
        return f"held-out set ({HELDOUT_SPLIT} split)"
    if not dataset.startswith(LABELS_PREFIX):
        return dataset
    rest = dataset[len(LABELS_PREFIX):]
    where, sep, digest = rest.rpartition("#")
    if not sep or "/" not in where or not re.fullmatch(r"[0-9a-f]+", digest):
        return rest  # an older key: "labels:<file name>"
    parent, name = where.split("/", 1)
    return f"{name} (…/{parent}) #{digest[:6]}" if parent else f"{name} #{digest[:6]}"


# -- fingerprints of the ground truth ----------------------------------------------------------

def _box_key(x1, y1, x2, y2, ignore) -> str:
    return f"{float(x1)!r},{float(y1)!r},{float(x2)!r},{float(y2)!r},{int(bool(ignore))}"


def _fingerprint_of(per_image: dict[int, list[str]]) -> str:
    h = hashlib.sha256()
    for image_id in sorted(per_image):
        h.update(f"{image_id}:{';'.join(sorted(per_image[image_id]))}\n".encode())
    return h.hexdigest()


def ground_truth_fingerprint(images) -> str:
    """sha256 hex of held-out ground truth (``GroundTruthImage``s with image ids): the sorted image
    ids, each with its boxes' ``x1 y1 x2 y2`` and ignore flag (box order and box ids do not count).

    Equal to ``heldout_fingerprint(project)`` for ``heldout_ground_truth(project)``.
    """
    per: dict[int, list[str]] = {}
    for g in images:
        if g.image_id is None:
            raise StoreError(f"{g.path}: a held-out image needs its image id to be fingerprinted")
        boxes = np.asarray(g.boxes, dtype=np.float64).reshape(-1, 4)
        per[int(g.image_id)] = [_box_key(*b, not k) for b, k in zip(boxes.tolist(), np.asarray(g.keep).tolist())]
    return _fingerprint_of(per)


def heldout_fingerprint(project: Project) -> str:
    """The fingerprint (``ground_truth_fingerprint``) of the held-out set as it is now: one query."""
    with project.read() as s:
        rows = s.execute(select(Image.id, Box.x1, Box.y1, Box.x2, Box.y2, Box.ignore)
                         .select_from(Image)
                         .outerjoin(Box, (Box.image_id == Image.id) & Box.state.in_(GROUND_TRUTH_STATES))
                         .where(Image.split == HELDOUT_SPLIT, Image.status == "done")).all()
    per: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        boxes = per[r[0]]  # an image without faces still counts (every detection on it is wrong)
        if r.x1 is not None:
            boxes.append(_box_key(r.x1, r.y1, r.x2, r.y2, r.ignore))
    return _fingerprint_of(per)


def label_files_fingerprint(path: str | Path) -> str:
    """sha256 hex of an imported label set's files: a WIDER FACE ground-truth file's bytes, or the
    name and bytes of every ``*.txt`` label of a DARK FACE folder (hidden files left out, as
    ``srn.formats.darkface`` does), sorted by name. The content, not the modification time: a
    copied or touched set keeps its fingerprint, an edited one does not."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        files = sorted((p for p in path.glob("*.txt") if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: p.name)
        for p in files:
            h.update(p.name.encode("utf-8", "surrogateescape") + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


# -- the held-out ground truth -----------------------------------------------------------------

@dataclass
class GroundTruthImage:
    """One labelled image: where it is, its faces (inclusive ``x1 y1 x2 y2``) and which count."""

    image_id: int | None
    path: Path
    boxes: np.ndarray
    keep: np.ndarray
    """False for ignored faces: a detection on them is neither right nor wrong."""
    name: str = ""


def heldout_ground_truth(project: Project) -> list[GroundTruthImage]:
    """The ``val`` images that a person finished reviewing (status ``done``) with their accepted
    boxes; ignored faces have ``keep = False``.

    Unreviewed images are left out: their faces are not known, so every detection on them would
    count as a false positive (the same rule as ``app.store.export``).
    """
    roots = dict(project.roots())
    with project.read() as s:
        images = s.execute(select(Image.id, Image.root_id, Image.rel_path)
                           .where(Image.split == HELDOUT_SPLIT, Image.status == "done")
                           .order_by(Image.root_id, Image.rel_path)).all()
        rows = s.execute(select(Box.image_id, Box.x1, Box.y1, Box.x2, Box.y2, Box.ignore)
                         .join(Image, Image.id == Box.image_id)
                         .where(Image.split == HELDOUT_SPLIT, Image.status == "done",
                                Box.state.in_(GROUND_TRUTH_STATES))
                         .order_by(Box.image_id, Box.id)).all()
    per: dict[int, list] = defaultdict(list)
    for r in rows:
        per[r.image_id].append((r.x1, r.y1, r.x2, r.y2, r.ignore))
    out = []
    for image in images:
        data = per.get(image.id, [])
        boxes = np.array([d[:4] for d in data], dtype=np.float64).reshape(-1, 4)
        keep = np.array([not d[4] for d in data], dtype=bool)
        root = roots.get(image.root_id)
        path = (root / image.rel_path) if root is not None else Path(image.rel_path)
        out.append(GroundTruthImage(image.id, path, boxes, keep, image.rel_path))
    return out


def image_ids_for_paths(project: Project, paths) -> dict[Path, int]:
    """``{path: image id}`` for the files that are images of the project (others are left out);
    lets errors of an imported labelled set open in the review window when the image is there."""
    roots = dict(project.roots())
    wanted: dict[tuple[int, str], Path] = {}
    for path in paths:
        try:
            wanted[project.locate(path, roots)] = Path(path)
        except StoreError:
            continue
    if not wanted:
        return {}
    out = {}
    by_root: dict[int, list[str]] = defaultdict(list)
    for root_id, rel in wanted:
        by_root[root_id].append(rel)
    with project.read() as s:
        for root_id, rels in by_root.items():
            for chunk in chunks(rels):
                for r in s.execute(select(Image.id, Image.rel_path).where(
                        Image.root_id == root_id, Image.rel_path.in_(chunk))):
                    out[wanted[(root_id, r.rel_path)]] = r.id
    return out
