"""The common annotation record that every conversion goes through.

An ``Annotation`` is one image: its name (path relative to the image root, e.g.
``0--Parade/0_Parade_marchingband_1_5.jpg`` or ``12.png``), its size when known, and its boxes as
float64 (K, 4) **inclusive** ``x1 y1 x2 y2`` pixel extents (0-based; a box covering columns 10..19 is
``10 .. 19``, 10 px wide), plus optional scores (detections), ignore flags and WIDER attributes.

``source`` / ``lines`` remember where each box was read (file and 1-based line) so checks made
later, such as boxes outside the image, can report ``file:line``.

Outside the image
    With the size known, a box is inside when ``0 <= x1``, ``0 <= y1``, ``x2 <= width - 1`` and
    ``y2 <= height - 1``. ``apply_outside`` reports every other box and, by mode, keeps it
    (``"keep"``), clips it to the image (``"clip"``; a box with nothing left inside is dropped) or
    raises a ``FormatError`` naming its file and line (``"reject"``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from srn.formats import wider
from srn.formats._lines import format_number, natural_key
from srn.formats.errors import FormatError

OUTSIDE_MODES = ("keep", "clip", "reject")
_INVALID = wider.ATTRIBUTES.index("invalid")


@dataclass
class Annotation:
    """One image's boxes (inclusive ``x1 y1 x2 y2``) with optional size, scores, ignore flags, attributes."""

    name: str
    boxes: np.ndarray
    width: int | None = None
    height: int | None = None
    scores: np.ndarray | None = None  # (K,) float64, detections only
    ignore: np.ndarray | None = None  # (K,) bool: faces that neither count as hits nor misses
    attributes: np.ndarray | None = None  # (K, 6) int64, columns as wider.ATTRIBUTES
    source: Path | None = field(default=None, repr=False, compare=False)
    lines: np.ndarray | None = field(default=None, repr=False, compare=False)  # (K,) 1-based source lines

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        k = len(self.boxes)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if self.ignore is not None:
            self.ignore = np.asarray(self.ignore, dtype=bool).reshape(-1)
        if self.attributes is not None:
            self.attributes = np.asarray(self.attributes, dtype=np.int64).reshape(-1, len(wider.ATTRIBUTES))
        if self.lines is not None:
            self.lines = np.asarray(self.lines, dtype=np.int64).reshape(-1)
        for label, value in (("scores", self.scores), ("ignore flags", self.ignore),
                             ("attribute rows", self.attributes), ("line numbers", self.lines)):
            if value is not None and len(value) != k:
                raise ValueError(f"{self.name}: {k} boxes but {len(value)} {label}")
        if (self.width is None) != (self.height is None):
            raise ValueError(f"{self.name}: give both width and height, or neither")
        if self.width is not None and self.height is not None:  # both or neither (checked above)
            self.width, self.height = int(self.width), int(self.height)
            if self.width < 1 or self.height < 1:
                raise ValueError(f"{self.name}: image size must be positive, got {self.width}x{self.height}")

    @property
    def stem(self) -> str:
        """The image file name without folder and extension (DARK FACE id, WIDER prediction name)."""
        return Path(self.name).stem

    @property
    def key(self) -> str:
        """``name`` without its extension: ``"<event>/<stem>"``, the key of ``wider.read_predictions``."""
        return Path(self.name).with_suffix("").as_posix()

    @property
    def ignore_or_false(self) -> np.ndarray:
        return self.ignore if self.ignore is not None else np.zeros(len(self.boxes), dtype=bool)

    def where(self, i: int) -> tuple[Path | str, int | None]:
        """(file, line) of box ``i`` for error messages; the image name when the source is unknown."""
        line = int(self.lines[i]) if self.lines is not None else None
        return (self.source if self.source is not None else self.name), line

    def select(self, keep: np.ndarray) -> Annotation:
        """A copy with only the boxes where ``keep`` (bool mask or indices)."""
        def pick(a):
            return None if a is None else a[keep]

        return replace(self, boxes=self.boxes[keep], scores=pick(self.scores), ignore=pick(self.ignore),
                       attributes=pick(self.attributes), lines=pick(self.lines))


# ----------------------------------------------------------------------------------------------
# Converters


def from_wider(record: wider.WiderRecord, width: int | None = None, height: int | None = None) -> Annotation:
    """A WIDER record (``x1 y1 w h`` + attributes) as an Annotation; ``invalid`` faces become ignored."""
    return Annotation(name=record.name, boxes=wider.xywh_to_xyxy(record.boxes), width=width, height=height,
                      ignore=record.attributes[:, _INVALID] != 0, attributes=record.attributes,
                      source=record.source, lines=record.lines)


def to_wider(annotation: Annotation) -> wider.WiderRecord:
    """An Annotation as a WIDER record. WIDER's ``invalid`` column *is* its ignore flag, so where
    the two disagree (an edited ignore) the flag wins; without attributes ignored faces get
    ``invalid = 1``."""
    attrs = annotation.attributes
    if attrs is None:
        attrs = np.zeros((len(annotation.boxes), len(wider.ATTRIBUTES)), dtype=np.int64)
        attrs[:, _INVALID] = annotation.ignore_or_false
    elif annotation.ignore is not None:
        attrs = attrs.copy()
        disagree = (attrs[:, _INVALID] != 0) != annotation.ignore
        attrs[disagree, _INVALID] = annotation.ignore[disagree].astype(attrs.dtype)
    return wider.WiderRecord(name=annotation.name, boxes=wider.xyxy_to_xywh(annotation.boxes), attributes=attrs,
                             source=annotation.source, lines=annotation.lines)


def from_darkface(labels: Mapping[str, np.ndarray], folder: str | os.PathLike[str] | None = None,
                  extension: str = ".png", sizes: Mapping[str, tuple[int, int]] | None = None) -> list[Annotation]:
    """DARK FACE ``{id: boxes}`` as Annotations named ``<id><extension>``.

    ``folder`` (where the label files were read) gives each box its source ``file:line``;
    ``sizes`` maps ids to ``(width, height)``.
    """
    out = []
    for stem, boxes in labels.items():
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        width, height = (sizes or {}).get(stem, (None, None))
        out.append(Annotation(name=f"{stem}{extension}", boxes=boxes, width=width, height=height,
                              source=None if folder is None else Path(folder) / f"{stem}.txt",
                              lines=None if folder is None else np.arange(2, 2 + len(boxes))))
    return out


def to_darkface(annotations: Iterable[Annotation]) -> dict[str, np.ndarray]:
    """Annotations as DARK FACE ``{id: boxes}`` keyed by image stem (stems must be unique)."""
    out: dict[str, np.ndarray] = {}
    for ann in annotations:
        if ann.stem in out:
            raise ValueError(f"two images share the DARK FACE id {ann.stem!r} (e.g. {ann.name})")
        out[ann.stem] = ann.boxes.copy()
    return out


def sort_annotations(annotations: Iterable[Annotation]) -> list[Annotation]:
    """Annotations in name order with numeric ids in number order."""
    return sorted(annotations, key=lambda a: tuple(natural_key(p) for p in Path(a.key).parts))


# ----------------------------------------------------------------------------------------------
# Boxes outside the image


def outside_mask(annotation: Annotation) -> np.ndarray:
    """(K,) bool: boxes not entirely inside the image (all False when the size is unknown)."""
    b = annotation.boxes
    if annotation.width is None:
        return np.zeros(len(b), dtype=bool)
    assert annotation.height is not None  # both or neither (__post_init__)
    return (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > annotation.width - 1) | (b[:, 3] > annotation.height - 1)


def apply_outside(annotation: Annotation, mode: str = "keep") -> tuple[Annotation, list[str]]:
    """Report (and keep, clip or reject) the boxes that leave the image; see the module docstring.

    Returns the annotation to use and one ``file:line: ...`` message per box outside the image.
    """
    if mode not in OUTSIDE_MODES:
        raise ValueError(f"outside must be one of {', '.join(OUTSIDE_MODES)}, got {mode!r}")
    bad = outside_mask(annotation)
    if not bad.any():
        return annotation, []
    assert annotation.width is not None and annotation.height is not None  # no size: nothing is outside
    size = f"{annotation.width}x{annotation.height}"
    clipped = annotation.boxes.copy()
    clipped[:, 0:2] = np.maximum(clipped[:, 0:2], 0)
    clipped[:, 2] = np.minimum(clipped[:, 2], annotation.width - 1)
    clipped[:, 3] = np.minimum(clipped[:, 3], annotation.height - 1)
    # boxes degenerate to begin with (w = 0) are not this check's business
    gone = bad & ((clipped[:, 2] < clipped[:, 0]) | (clipped[:, 3] < clipped[:, 1]))
    messages = []
    for i in np.flatnonzero(bad):
        path, line = annotation.where(int(i))
        box = " ".join(format_number(v) for v in annotation.boxes[i])
        text = f"box x1 y1 x2 y2 = {box} extends outside the {size} image {annotation.name}"
        if mode == "reject":
            raise FormatError(path, line, f"{text} (expected 0 <= x1, 0 <= y1, x2 <= {annotation.width - 1}, "
                                          f"y2 <= {annotation.height - 1})")
        action = "kept" if mode == "keep" else "nothing inside, dropped" if gone[i] else "clipped"
        messages.append(str(FormatError(path, line, f"{text}; {action}")))
    if mode == "keep":
        return annotation, messages
    return replace(annotation, boxes=clipped).select(~gone), messages


def apply_outside_all(annotations: Iterable[Annotation], mode: str = "keep") -> tuple[list[Annotation], list[str]]:
    """``apply_outside`` over many images; ``"reject"`` raises on the first box outside its image."""
    out, messages = [], []
    for ann in annotations:
        fixed, msgs = apply_outside(ann, mode)
        out.append(fixed)
        messages += msgs
    return out, messages
