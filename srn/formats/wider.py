"""WIDER FACE: ground truth (``wider_face_*_bbx_gt.txt`` and the official ``.mat`` files) and predictions.

Pixel convention
    Boxes are stored as ``x1 y1 w h`` with 0-based pixel indices and *inclusive* widths: a face
    covering columns ``x1 .. x2`` has ``w = x2 - x1 + 1``. ``xywh_to_xyxy`` / ``xyxy_to_xywh`` convert
    to and from the inclusive extents ``x1 y1 x2 y2`` used everywhere else in ``srn``
    (``[10, 20, 10, 20]`` <-> ``[10, 20, 19, 39]``). A few boxes of the real data have ``w = 0`` or
    ``h = 0``; they are read as they are (their ``x2`` is ``x1 - 1``), negative sizes are errors.

Ground-truth text file
    Per image: the file name (relative to the image root, e.g. ``0--Parade/0_Parade_marchingband_1_5.jpg``),
    the face count, then one ``x1 y1 w h blur expression illumination invalid occlusion pose`` line
    per face (attributes are small non-negative integers, kept round-trip). An image with no faces
    still carries one all-zero line that is not a face. ``iter_gt`` streams the file;
    ``read_gt`` returns every record or raises (nothing is half-imported).

``.mat`` ground truth (official evaluation tools)
    ``wider_face_val.mat`` holds three cell arrays of one cell per event: ``event_list{i}`` (the event
    name), ``file_list{i}`` (a cell of image names without extension) and ``face_bbx_list{i}`` (a cell
    of ``K x 4`` ``x y w h`` arrays, same convention as the text file). The setting files
    ``wider_easy_val.mat`` / ``wider_medium_val.mat`` / ``wider_hard_val.mat`` hold ``gt_list{i}{j}``:
    the **1-based** indices of the faces of image ``j`` of event ``i`` that count in that setting.
    ``scipy.io.loadmat`` turns cells into numpy object arrays (``arr[i][0]`` is cell ``i`` of an
    ``N x 1`` cell array) and strings into one-element string arrays.

Predictions (what the official evaluation reads)
    A folder ``<event>/<image>.txt`` per image: the image name (no extension), the count, then
    ``x y w h score`` lines, same inclusive widths.

Every parser raises ``FormatError`` (``file:line: what was expected, what was found``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from srn.fileio import atomic_write_text, path_inside
from srn.formats._lines import (
    MAX_ATTRIBUTE,
    MAX_COORDINATE,
    format_number,
    parse_count,
    parse_numbers,
    read_lines,
    relative_name_problem,
)
from srn.formats.errors import FormatError

ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
_GT_FIELDS = "x1 y1 w h blur expression illumination invalid occlusion pose"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class WiderRecord:
    """One image of a WIDER FACE ground-truth file.

    ``source`` and ``lines`` (the 1-based line of each face) are set by the reader so later checks
    (e.g. boxes outside the image) can name ``file:line``; they take no part in comparisons.
    """

    name: str
    boxes: np.ndarray  # (K, 4) float64: x1 y1 w h
    # (K, 6) int64, columns as ATTRIBUTES; the default None becomes all zeros in __post_init__
    attributes: np.ndarray = field(default=None)  # type: ignore[arg-type]  # never None once constructed
    source: Path | None = field(default=None, repr=False, compare=False)
    lines: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.attributes is None:
            self.attributes = np.zeros((len(self.boxes), len(ATTRIBUTES)), dtype=np.int64)
        self.attributes = np.asarray(self.attributes, dtype=np.int64).reshape(-1, len(ATTRIBUTES))
        if len(self.attributes) != len(self.boxes):
            raise ValueError(f"{self.name}: {len(self.boxes)} boxes but {len(self.attributes)} attribute rows")


def _looks_like_numbers(text: str) -> bool:
    try:
        float(text.split()[0])
    except (ValueError, IndexError):
        return False
    return True


def _check_faces(path: Path, first_line: int, name: str, data: np.ndarray) -> None:
    """Vectorised checks of one image's face rows; the first bad row becomes a file:line error."""
    attrs = data[:, 4:]
    finite = np.isfinite(data).all(axis=1)
    problems = [
        (~finite, "expected finite numbers"),
        (finite & (np.abs(data[:, :4]) > MAX_COORDINATE).any(axis=1),
         f"expected coordinates and sizes within ±{MAX_COORDINATE:,.0f}"),
        ((data[:, 2] < 0) | (data[:, 3] < 0), "expected a non-negative width and height"),
        (((attrs != np.floor(attrs)) | (attrs < 0) | (attrs > MAX_ATTRIBUTE)).any(axis=1),
         f"expected non-negative integer attributes (at most {MAX_ATTRIBUTE})"),
    ]
    for bad, what in problems:
        if bad.any():
            row = int(np.argmax(bad))
            values = " ".join(format_number(v) if math.isfinite(v) else str(v) for v in data[row])
            raise FormatError(path, first_line + row, f"{what} ({_GT_FIELDS}) for a face of {name}, found {values!r}")


def iter_gt(path: str | os.PathLike[str]) -> Iterator[WiderRecord]:
    """Stream the records of a WIDER FACE ground-truth file; malformed input raises ``FormatError``.

    Records before the error have already been yielded; use ``read_gt`` for all-or-nothing.
    """
    path = Path(path)
    with path.open("r", encoding="utf-8-sig") as fh:  # a UTF-8 BOM is not part of the first name
        try:
            yield from _iter_gt_lines(path, enumerate(fh, start=1))
        except UnicodeDecodeError:
            raise FormatError(path, None, "not a UTF-8 text file (WIDER FACE ground truth expected)") from None


def _iter_gt_lines(path: Path, lines: Iterator[tuple[int, str]]) -> Iterator[WiderRecord]:
    lineno = 0
    previous = None  # (name, count, count line, faces) of the previous image, for count-mismatch hints

    def next_line(expected: str, hint: str = "") -> str:
        nonlocal lineno
        item = next(lines, None)
        if item is None:
            lineno += 1
            raise FormatError(path, lineno, f"unexpected end of file: expected {expected}{hint}")
        lineno, text = item
        return text

    for lineno, text in lines:
        name = text.strip()
        if not name:
            for _, rest in lines:
                if rest.strip():
                    raise FormatError(path, lineno, "blank line where an image file name was expected")
            return
        if len(name.split()) != 1 or _looks_like_numbers(name):
            hint = ""
            if previous is not None and _looks_like_numbers(name):
                pname, pcount, pline, _ = previous
                hint = (f" (a face line? the count {pcount} of {pname} on line {pline} "
                        "is smaller than the number of face lines that follow it)")
            raise FormatError(path, lineno, f"expected an image file name, found {name!r}{hint}")
        problem = relative_name_problem(name)
        if problem:
            raise FormatError(path, lineno, f"image name {name!r} {problem}")
        count_text = next_line(f"the face count of {name}")
        count_line = lineno
        count = parse_count(path, lineno, count_text, f"face count of {name}")
        tokens: list[str] = []
        for i in range(count or 1):  # a face-less image still has one all-zero line
            item = next(lines, None)
            if item is None:
                hint = (f" (the count of {name} on line {count_line} says {count} faces, {i} lines follow)"
                        if count else "")
                next_line(f"face line {i + 1} of {name}" if count else f"the all-zero line of {name}", hint)
            assert item is not None  # next_line raised: the lines ran out
            lineno, face_text = item
            fields = face_text.split()
            if len(fields) != 10:
                hint = ""
                if len(fields) == 1 and count and not _looks_like_numbers(fields[0]):
                    hint = (f": the count of {name} on line {count_line} says {count} faces "
                            f"but only {i} face lines follow")
                raise FormatError(path, lineno, f"expected 10 numbers ({_GT_FIELDS}), found {len(fields)}: "
                                                f"{face_text.strip()!r}{hint}")
            tokens += fields
        try:
            data = np.array(tokens, dtype=np.float64).reshape(-1, 10)
        except ValueError:  # find the line with the bad number
            for k in range(len(tokens) // 10):
                try:
                    [float(t) for t in tokens[10 * k: 10 * k + 10]]
                except ValueError:
                    raise FormatError(path, count_line + 1 + k, f"expected numbers ({_GT_FIELDS}), found "
                                                                f"{' '.join(tokens[10 * k: 10 * k + 10])!r}") from None
            raise
        attrs = data[:, 4:]
        in_range = np.isfinite(data).all() and np.abs(data).max(initial=0) <= MAX_COORDINATE
        attr_ints = attrs.astype(np.int64) if in_range else np.zeros(attrs.shape, np.int64)
        if count == 0:
            if data.any():
                raise FormatError(path, lineno, f"{name} has 0 faces, so an all-zero line was expected, "
                                                f"found {face_text.strip()!r}")
            data, attr_ints = np.zeros((0, 10)), np.zeros((0, 6), dtype=np.int64)
        elif not (in_range and data[:, 2:].min() >= 0 and (attr_ints == attrs).all()):
            _check_faces(path, count_line + 1, name, data)
        previous = (name, count, count_line, count)
        yield WiderRecord(name=name, boxes=data[:, :4], attributes=attr_ints,
                          source=path, lines=np.arange(count_line + 1, count_line + 1 + count))


def read_gt(path: str | os.PathLike[str]) -> list[WiderRecord]:
    """Read a whole WIDER FACE ground-truth file: every record, or a ``FormatError``."""
    return list(iter_gt(path))


def format_gt(records: Iterable[WiderRecord]) -> str:
    """The text of a WIDER FACE ground-truth file."""
    out: list[str] = []
    for rec in records:
        if len(rec.name.split()) != 1 or rec.name != rec.name.strip():
            raise ValueError(f"WIDER FACE image names cannot be empty or contain white space: {rec.name!r}")
        out.append(rec.name)
        out.append(str(len(rec.boxes)))
        if len(rec.boxes) == 0:
            out.append(" ".join(["0"] * 10))
        for box, attrs in zip(rec.boxes, rec.attributes):
            out.append(" ".join([*(format_number(v) for v in box), *(str(int(a)) for a in attrs)]))
    return "\n".join(out) + "\n"


def write_gt(path: str | os.PathLike[str], records: Iterable[WiderRecord]) -> Path:
    """Write a WIDER FACE ground-truth file atomically."""
    return atomic_write_text(path, format_gt(records))


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Inclusive pixel extents ``x1 y1 x2 y2`` -> WIDER ``x1 y1 w h`` (``w = x2 - x1 + 1``)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1], axis=1)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """WIDER ``x1 y1 w h`` -> inclusive pixel extents ``x1 y1 x2 y2``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1], axis=1)


# ----------------------------------------------------------------------------------------------
# Predictions


def format_prediction(name: str, boxes_xyxy: np.ndarray, scores: ArrayLike) -> str:
    """The text of one WIDER FACE prediction file: image name (no extension), count, then
    ``x y w h score`` lines with inclusive widths (as the authors' test script writes them)."""
    xywh = xyxy_to_xywh(boxes_xyxy)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(xywh):
        raise ValueError(f"{name}: {len(xywh)} boxes but {len(scores)} scores")
    lines = [name, str(len(xywh))]
    lines += [f"{x:.1f} {y:.1f} {w:.1f} {h:.1f} {s:.4f}" for (x, y, w, h), s in zip(xywh, scores)]
    return "\n".join(lines) + "\n"


def write_prediction(root: str | os.PathLike[str], image_name: str, boxes_xyxy: np.ndarray, scores: ArrayLike) -> Path:
    """Write ``<root>/<event>/<image>.txt`` for ``image_name`` = ``"<event>/<image>.jpg"`` (atomically).

    Images outside an event folder go to ``<root>/<image>.txt``.
    """
    rel = Path(image_name)
    target = path_inside(root, rel.parent / f"{rel.stem}.txt", "image name")
    return atomic_write_text(target, format_prediction(rel.stem, boxes_xyxy, scores))


def write_predictions(root: str | os.PathLike[str],
                      predictions: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> list[Path]:
    """Write a whole predictions folder from ``{"<event>/<image_stem>": (boxes_xyxy, scores)}``
    (the shape ``read_predictions`` returns)."""
    for key in predictions:  # every path checked before the first write
        path_inside(root, key, "image name")
    return [write_prediction(root, key, boxes, scores) for key, (boxes, scores) in predictions.items()]


def _name_matches_stem(name: str, stem: str) -> bool:
    """The name line may be the stem, or the image file name (``stem.jpg``), with or without its event folder."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    return last == stem or any(last.lower() == (stem + s).lower() for s in _IMAGE_SUFFIXES)


def read_prediction(path: str | os.PathLike[str], allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read one prediction file -> (boxes (K, 4) inclusive ``x1 y1 x2 y2``, scores (K,)), float64.

    The first line must name the image: its file stem (``0_Parade_marchingband_1_465``; the image
    file name ``..._465.jpg`` is accepted too). A box of zero or negative width or height is an
    error unless ``allow_empty`` (evaluation scores it as the official tool does).
    """
    path = Path(path)
    lines = read_lines(path, "WIDER FACE prediction file")
    if not lines:
        raise FormatError(path, 1, f"empty file: expected the image name {path.stem!r} on the first line")
    name = lines[0].strip()
    if not _name_matches_stem(name, path.stem):
        raise FormatError(path, 1, f"expected the image name {path.stem!r} (the file name without .txt), "
                                   f"found {name!r}")
    if len(lines) < 2:
        raise FormatError(path, 2, "unexpected end of file: expected the number of boxes")
    count = parse_count(path, 2, lines[1], "number of boxes")
    if len(lines) - 2 != count:
        raise FormatError(path, 2, f"the count says {count} boxes but {len(lines) - 2} box lines follow")
    rows = [parse_numbers(path, i, text, 5, "x y w h score") for i, text in enumerate(lines[2:], start=3)]
    data = np.array(rows, dtype=np.float64).reshape(-1, 5)
    bad = (data[:, 2] < 0) | (data[:, 3] < 0)
    if bad.any() and not allow_empty:
        row = int(np.argmax(bad))
        raise FormatError(path, row + 3, "expected a non-negative width and height (x y w h score), "
                                         f"found {lines[row + 2].strip()!r}")
    return xywh_to_xyxy(data[:, :4]), data[:, 4].copy()


def read_predictions(folder: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a WIDER FACE predictions folder: ``{"<event>/<image_stem>": (boxes_xyxy, scores)}``.

    Every ``*.txt`` below ``folder`` is read (files directly in ``folder`` get the key ``"<stem>"``);
    boxes are inclusive ``x1 y1 x2 y2`` float64 (K, 4), scores (K,). All files or a ``FormatError``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (WIDER FACE predictions expected)")
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for file in sorted(folder.rglob("*.txt")):
        if file.name.startswith(".") or not file.is_file():
            continue
        out[file.relative_to(folder).with_suffix("").as_posix()] = read_prediction(file)
    return out


# ----------------------------------------------------------------------------------------------
# .mat ground truth of the official evaluation tools


@dataclass
class WiderMatGT:
    """``wider_face_val.mat``: per event, the image stems and their ``x y w h`` boxes as stored."""

    events: list[str]
    files: list[list[str]]  # per event: image stems (no extension)
    boxes: list[list[np.ndarray]]  # per event, per image: (K, 4) float64 x y w h
    integer_class: str | None = None
    """The integer type the file stores the boxes as ("int32" in the official files), or None
    for floating point: the official tool's MATLAB arithmetic depends on it (``srn.eval.official``)."""

    def records(self, extension: str = ".jpg") -> list[WiderRecord]:
        """The same ground truth as ``WiderRecord``s named ``<event>/<stem><extension>`` (no attributes)."""
        return [WiderRecord(f"{event}/{stem}{extension}", boxes)
                for event, stems, per_image in zip(self.events, self.files, self.boxes)
                for stem, boxes in zip(stems, per_image)]


def _loadmat(path: Path, variables: tuple[str, ...]) -> dict:
    try:
        from scipy.io import loadmat
    except ImportError:  # pragma: no cover - scipy comes with scikit-image
        raise FormatError(path, None, "reading .mat files needs scipy (pip install scipy)") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        mat = loadmat(str(path), variable_names=list(variables))
    except NotImplementedError:
        raise FormatError(path, None, "MATLAB v7.3 (HDF5) .mat files are not supported; "
                                      "save it with -v7 or use the official v5 files") from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ... for non-mat files
        raise FormatError(path, None, f"not a readable MATLAB .mat file ({exc})") from None
    missing = [v for v in variables if v not in mat]
    if missing:
        raise FormatError(path, None, f"expected the variable(s) {', '.join(missing)}; "
                                      f"found {', '.join(sorted(k for k in mat if not k.startswith('__'))) or 'none'}")
    return mat


def _cells(path: Path, value, where: str) -> list:
    """The cells of a MATLAB cell array (numpy object array), in MATLAB's column-major order."""
    if not isinstance(value, np.ndarray) or value.dtype != object:
        shape = getattr(value, "shape", None)
        raise FormatError(path, None,
                          f"{where}: expected a cell array, found {type(value).__name__} {shape or ''}".rstrip())
    return list(value.ravel(order="F"))


def _string(path: Path, value, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        if value.size == 1:
            return str(value.ravel()[0])
        if value.size == 0:
            return ""
    raise FormatError(path, None, f"{where}: expected a string, found {getattr(value, 'dtype', type(value).__name__)} "
                                  f"{getattr(value, 'shape', '')}")


def _numeric(path: Path, value, where: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise FormatError(path, None, f"{where}: expected a numeric array, "
                                      f"found {getattr(value, 'dtype', type(value).__name__)}")
    return value


def read_mat_ground_truth(path: str | os.PathLike[str]) -> WiderMatGT:
    """Read ``wider_face_val.mat`` (``event_list``, ``file_list``, ``face_bbx_list``); boxes stay ``x y w h``."""
    path = Path(path)
    mat = _loadmat(path, ("event_list", "file_list", "face_bbx_list"))
    events_cells = _cells(path, mat["event_list"], "event_list")
    files_cells = _cells(path, mat["file_list"], "file_list")
    boxes_cells = _cells(path, mat["face_bbx_list"], "face_bbx_list")
    if not len(events_cells) == len(files_cells) == len(boxes_cells):
        raise FormatError(path, None, f"expected one cell per event in event_list, file_list and face_bbx_list; "
                                      f"found {len(events_cells)}, {len(files_cells)} and {len(boxes_cells)}")
    events, files, boxes = [], [], []
    kinds: set[str] = set()
    for i, (ev, fl, bl) in enumerate(zip(events_cells, files_cells, boxes_cells), start=1):
        events.append(_string(path, ev, f"event_list{{{i}}}"))
        stems = [_string(path, c, f"file_list{{{i}}}{{{j}}}")
                 for j, c in enumerate(_cells(path, fl, f"file_list{{{i}}}"), 1)]
        for where, name in [(f"event_list{{{i}}}", events[-1])] + [
                (f"file_list{{{i}}}{{{j}}}", stem) for j, stem in enumerate(stems, 1)]:
            problem = relative_name_problem(name)
            if problem:
                raise FormatError(path, None, f"{where}: {name!r} {problem}")
        per_image = []
        for j, c in enumerate(_cells(path, bl, f"face_bbx_list{{{i}}}"), start=1):
            arr = _numeric(path, c, f"face_bbx_list{{{i}}}{{{j}}}")
            if arr.size:
                kinds.add(arr.dtype.name)
            if arr.size == 0:
                arr = np.zeros((0, 4))
            if arr.ndim != 2 or arr.shape[1] != 4:
                raise FormatError(path, None, f"face_bbx_list{{{i}}}{{{j}}}: expected a K x 4 array (x y w h), "
                                              f"found shape {arr.shape}")
            per_image.append(np.array(arr, dtype=np.float64))
        if len(per_image) != len(stems):
            raise FormatError(path, None, f"event {i} ({events[-1]}): file_list has {len(stems)} images "
                                          f"but face_bbx_list has {len(per_image)}")
        files.append(stems)
        boxes.append(per_image)
    integer = len(kinds) == 1 and np.dtype(next(iter(kinds))).kind in "iu"
    return WiderMatGT(events=events, files=files, boxes=boxes, integer_class=next(iter(kinds)) if integer else None)


def read_mat_keep_lists(path: str | os.PathLike[str]) -> list[list[np.ndarray]]:
    """Read ``gt_list`` of a setting file (``wider_easy_val.mat`` ...): per event, per image, the
    **0-based** int64 indices of the faces that count in that setting (MATLAB stores them 1-based)."""
    path = Path(path)
    mat = _loadmat(path, ("gt_list",))
    out = []
    for i, event_cell in enumerate(_cells(path, mat["gt_list"], "gt_list"), start=1):
        per_image = []
        for j, c in enumerate(_cells(path, event_cell, f"gt_list{{{i}}}"), start=1):
            arr = np.asarray(_numeric(path, c, f"gt_list{{{i}}}{{{j}}}"), dtype=np.float64).ravel()
            if arr.size and (not np.isfinite(arr).all() or (arr != np.floor(arr)).any() or arr.min() < 1):
                raise FormatError(path, None, f"gt_list{{{i}}}{{{j}}}: expected 1-based face indices (integers >= 1), "
                                              f"found {arr.tolist()[:10]}")
            per_image.append(arr.astype(np.int64) - 1)
        out.append(per_image)
    return out
