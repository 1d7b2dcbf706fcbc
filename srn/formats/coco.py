"""COCO detection JSON: ground truth (``images`` / ``annotations`` / ``categories``) and results.

Pixel convention
    COCO boxes are ``[x, y, w, h]`` in continuous coordinates where pixel ``i`` covers ``[i, i + 1)``.
    A face covering the inclusive pixel extents ``x1 .. x2`` therefore spans ``[x1, x2 + 1)``:
    ``x = x1``, ``w = x2 - x1 + 1`` -- numerically the same as WIDER FACE's ``x1 y1 w h``.
    Example: inclusive ``x1 y1 x2 y2 = 10 20 19 39`` <-> ``"bbox": [10, 20, 10, 20]``, ``"area": 200``.

Ground truth (``export_coco`` / ``import_coco``)
    One category (``face``, id 1). Image ids are 1..N in record order, annotation ids 1..M.
    Ignored faces are written with ``"iscrowd": 1`` and ``"ignore": 1`` (pycocotools ignores crowd
    regions) and read back from either. WIDER attributes, when present, travel as
    ``"attributes": {"blur": 0, ...}``. COCO needs every image's ``width`` and ``height``.
Results (``export_coco_results`` / ``import_coco``)
    A list of ``{"image_id", "category_id", "bbox", "score"}``.

``import_coco`` reads either form and raises ``FormatError`` naming the file and, for JSON syntax
errors, the line; structural errors name the element (``annotations[3].bbox``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from srn.fileio import atomic_write_text
from srn.formats import wider
from srn.formats._lines import MAX_ATTRIBUTE, MAX_COORDINATE, relative_name_problem
from srn.formats.errors import FormatError
from srn.formats.records import Annotation

CATEGORY_ID = 1


def _num(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def _xywh(box: np.ndarray) -> list:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [_num(x1), _num(y1), _num(x2 - x1 + 1), _num(y2 - y1 + 1)]


def coco_ground_truth(records: Iterable[Annotation], category: str = "face") -> dict:
    """The COCO ground-truth dict for ``records`` (every record needs its width and height)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, start=1):
        if rec.width is None:
            raise ValueError(f"{rec.name}: COCO needs the image size (width and height); give the images folder")
        images.append({"id": image_id, "file_name": rec.name, "width": rec.width, "height": rec.height})
        ignore = rec.ignore_or_false
        for i, box in enumerate(rec.boxes):
            bbox = _xywh(box)
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": CATEGORY_ID, "bbox": bbox,
                   "area": _num(max(bbox[2], 0) * max(bbox[3], 0)), "iscrowd": int(ignore[i]), "ignore": int(ignore[i])}
            if rec.attributes is not None:
                ann["attributes"] = {k: int(v) for k, v in zip(wider.ATTRIBUTES, rec.attributes[i])}
            if rec.scores is not None:
                ann["score"] = float(rec.scores[i])
            annotations.append(ann)
    return {"info": {"description": "exported by DarkFace Studio"}, "images": images, "annotations": annotations,
            "categories": [{"id": CATEGORY_ID, "name": category, "supercategory": category}]}


def export_coco(records: Iterable[Annotation], path: str | os.PathLike[str], category: str = "face") -> Path:
    """Write COCO ground truth for ``records`` atomically (image ids 1..N in record order)."""
    return atomic_write_text(path, json.dumps(coco_ground_truth(records, category), indent=1) + "\n")


def export_coco_results(records: Iterable[Annotation], path: str | os.PathLike[str],
                        image_ids: Mapping[str, int] | None = None) -> Path:
    """Write COCO results (detections with scores) atomically.

    ``image_ids`` maps image names to ids (e.g. from the ground truth); by default ids are 1..N in
    record order, matching ``export_coco`` of the same records.
    """
    out = []
    for n, rec in enumerate(records, start=1):
        if rec.scores is None:
            raise ValueError(f"{rec.name}: COCO results need scores")
        if image_ids is not None and rec.name not in image_ids:
            raise ValueError(f"{rec.name}: no image id for this image")
        image_id = image_ids[rec.name] if image_ids is not None else n
        out += [{"image_id": image_id, "category_id": CATEGORY_ID, "bbox": _xywh(box), "score": float(score)}
                for box, score in zip(rec.boxes, rec.scores)]
    return atomic_write_text(path, json.dumps(out) + "\n")


# ----------------------------------------------------------------------------------------------
# Import


def _load(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise FormatError(path, None, "JSON nested too deeply (COCO files are two levels deep)") from None
    except UnicodeDecodeError:
        raise FormatError(path, None, "not a UTF-8 text file (COCO JSON expected)") from None
    except json.JSONDecodeError as exc:
        raise FormatError(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None


def _is_int(v) -> bool:
    return ((isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_ATTRIBUTE)
            or (isinstance(v, float) and v.is_integer() and abs(v) <= MAX_ATTRIBUTE))


def _is_coordinate(v) -> bool:
    """A JSON number usable as a coordinate: finite, not a bool, not a 400-digit integer."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return abs(v) <= MAX_COORDINATE if isinstance(v, int) else math.isfinite(v) and abs(v) <= MAX_COORDINATE


def _flag(path: Path, where: str, obj: dict, key: str) -> bool:
    """``iscrowd`` / ``ignore``: 0 or 1 (or false/true); ``"no"`` is not a flag."""
    value = obj.get(key, 0)
    if isinstance(value, str) or value not in (0, 1):
        raise FormatError(path, None, f"{where}.{key}: expected 0 or 1, found {json.dumps(value)[:80]}")
    return bool(value)


def _bbox(path: Path, where: str, value) -> list[float]:
    if not isinstance(value, list) or len(value) != 4 or not all(_is_coordinate(v) for v in value):
        raise FormatError(path, None, f"{where}.bbox: expected 4 numbers [x, y, w, h] within ±{MAX_COORDINATE:,.0f}, "
                                      f"found {json.dumps(value)[:80]}")
    if value[2] < 0 or value[3] < 0:
        raise FormatError(path, None, f"{where}.bbox: expected a non-negative width and height, found {value}")
    return [float(v) for v in value]


def _xyxy(rows: list[list[float]]) -> np.ndarray:
    return wider.xywh_to_xyxy(np.array(rows, dtype=np.float64).reshape(-1, 4))


def _field(path: Path, where: str, obj: dict, key: str, check, expected: str):
    if key not in obj:
        raise FormatError(path, None, f"{where}: expected the field {key!r} ({expected}), found none")
    if not check(obj[key]):
        raise FormatError(path, None, f"{where}.{key}: expected {expected}, found {json.dumps(obj[key])[:80]}")
    return obj[key]


def _ground_truth(path: Path, data: dict, category: str | None) -> tuple[list[Annotation], dict[int, int]]:
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise FormatError(path, None, f"expected a list {key!r} in the COCO ground truth, found "
                                          f"{type(data.get(key)).__name__ if key in data else 'none'}")
    cats = data["categories"]
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise FormatError(path, None, f"categories[{i}]: expected an object with an integer 'id'")
    names = {str(c.get("name")): int(c["id"]) for c in cats}
    if category is not None:
        if category not in names:
            raise FormatError(path, None, f"no category {category!r}; found {', '.join(names) or 'none'}")
        cat_id = names[category]
    elif len(cats) == 1:
        cat_id = int(cats[0]["id"])
    elif "face" in names:
        cat_id = names["face"]
    else:
        raise FormatError(path, None, f"expected one category or one named 'face', found {', '.join(names) or 'none'}")
    index: dict[int, int] = {}
    heads = []
    for i, img in enumerate(data["images"]):
        where = f"images[{i}]"
        if not isinstance(img, dict):
            raise FormatError(path, None, f"{where}: expected an object, found {json.dumps(img)[:80]}")
        image_id = int(_field(path, where, img, "id", _is_int, "an integer"))
        name = _field(path, where, img, "file_name", lambda v: isinstance(v, str) and v.strip(), "a file name")
        problem = relative_name_problem(name)
        if problem:
            raise FormatError(path, None, f"{where}.file_name: {name!r} {problem}")
        width = int(_field(path, where, img, "width", lambda v: _is_int(v) and v > 0, "a positive integer"))
        height = int(_field(path, where, img, "height", lambda v: _is_int(v) and v > 0, "a positive integer"))
        if image_id in index:
            raise FormatError(path, None, f"{where}.id: image id {image_id} is used twice")
        index[image_id] = i
        heads.append((name, width, height))
    rows: list[list] = [[] for _ in heads]
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise FormatError(path, None, f"{where}: expected an object, found {json.dumps(ann)[:80]}")
        image_id = int(_field(path, where, ann, "image_id", _is_int, "an integer"))
        if image_id not in index:
            raise FormatError(path, None, f"{where}.image_id: expected the id of an image, found {image_id} "
                                          "(no such image)")
        if ann.get("category_id", cat_id) != cat_id:
            continue
        box = _bbox(path, where, ann.get("bbox"))
        ignore = _flag(path, where, ann, "iscrowd") or _flag(path, where, ann, "ignore")
        attrs = ann.get("attributes")
        if attrs is not None:
            if not isinstance(attrs, dict) or not all(_is_int(attrs.get(k, 0)) and attrs.get(k, 0) >= 0
                                                      for k in wider.ATTRIBUTES):
                raise FormatError(path, None, f"{where}.attributes: expected non-negative integer "
                                              f"{', '.join(wider.ATTRIBUTES)}, found {json.dumps(attrs)[:80]}")
            attrs = [int(attrs.get(k, 0)) for k in wider.ATTRIBUTES]
        score = ann.get("score")
        if score is not None and not (isinstance(score, (int, float)) and math.isfinite(score)):
            raise FormatError(path, None, f"{where}.score: expected a number, found {json.dumps(score)[:80]}")
        rows[index[image_id]].append((box, ignore, attrs, score))
    out = []
    for (name, width, height), faces in zip(heads, rows):
        with_attrs = any(f[2] is not None for f in faces)
        with_scores = bool(faces) and all(f[3] is not None for f in faces)
        out.append(Annotation(
            name=name, boxes=_xyxy([f[0] for f in faces]), width=width, height=height,
            ignore=np.array([f[1] for f in faces], dtype=bool),
            attributes=(np.array([f[2] or [0] * 6 for f in faces], dtype=np.int64).reshape(-1, 6) if with_attrs
                        else None),
            scores=np.array([f[3] for f in faces], dtype=np.float64) if with_scores else None,
            source=path))
    return out, {image_id: i for image_id, i in index.items()}


def _results(path: Path, data: list, gt: tuple[list[Annotation], dict[int, int]] | None) -> list[Annotation]:
    groups: dict[int, list] = {}
    for i, det in enumerate(data):
        where = f"[{i}]"
        if not isinstance(det, dict):
            raise FormatError(path, None, f"{where}: expected a detection object, found {json.dumps(det)[:80]}")
        image_id = int(_field(path, where, det, "image_id", _is_int, "an integer"))
        box = _bbox(path, where, det.get("bbox"))
        score = _field(path, where, det, "score",
                       lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                       "a number")
        if gt is not None and image_id not in gt[1]:
            raise FormatError(path, None,
                              f"{where}.image_id: expected the id of a ground-truth image, found {image_id}")
        groups.setdefault(image_id, []).append((box, float(score)))
    items: list[tuple[str, int | None, int | None, list]]
    if gt is None:
        items = [(str(image_id), None, None, groups[image_id]) for image_id in sorted(groups)]
    else:
        images, index = gt
        items = [(images[i].name, images[i].width, images[i].height, groups.get(image_id, []))
                 for image_id, i in sorted(index.items(), key=lambda t: t[1])]
    return [Annotation(name=name, boxes=_xyxy([d[0] for d in dets]), width=w, height=h,
                       scores=np.array([d[1] for d in dets], dtype=np.float64), source=path)
            for name, w, h, dets in items]


def import_coco(path: str | os.PathLike[str], category: str | None = None,
                gt: str | os.PathLike[str] | None = None, ground_truth_only: bool = False) -> list[Annotation]:
    """Read COCO ground truth or results into Annotations (boxes inclusive ``x1 y1 x2 y2``).

    Ground truth: one Annotation per image in file order, with size, ignore flags and attributes
    (when present); only the face category is read (``category``, else the only one, else "face").
    Results (a JSON list): one Annotation with scores per image id; with ``gt`` (a COCO ground-truth
    file) names and sizes come from it and every ground-truth image is present, else the name is
    the image id.
    """
    path = Path(path)
    data = _load(path)
    if isinstance(data, dict):
        return _ground_truth(path, data, category)[0]
    if isinstance(data, list) and ground_truth_only:
        raise FormatError(path, None, "this is a COCO results list (detections with scores), not ground truth "
                                      "(an object with images, annotations and categories)")
    if isinstance(data, list):
        ref = None
        if gt is not None:
            gt_path = Path(gt)
            gt_data = _load(gt_path)
            if not isinstance(gt_data, dict):
                raise FormatError(gt_path, None, "expected COCO ground truth (a JSON object), found a list")
            ref = _ground_truth(gt_path, gt_data, category)
        return _results(path, data, ref)
    raise FormatError(path, None, "expected COCO ground truth (an object) or results (a list), "
                                  f"found {type(data).__name__}")


def image_ids(path: str | os.PathLike[str]) -> dict[str, int]:
    """``{file_name: id}`` of a COCO ground-truth file, for ``export_coco_results``."""
    path = Path(path)
    data = _load(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise FormatError(path, None, "expected COCO ground truth with an 'images' list")
    out = {}
    for k, img in enumerate(data["images"]):
        if not isinstance(img, dict):
            continue
        if not _is_int(img.get("id")):
            raise FormatError(path, None, f"images[{k}]: expected an integer 'id', found {img.get('id')!r}")
        out[str(img.get("file_name"))] = int(img["id"])
    return out


__all__: Sequence[str] = ["CATEGORY_ID", "coco_ground_truth", "export_coco", "export_coco_results", "image_ids",
                          "import_coco"]
