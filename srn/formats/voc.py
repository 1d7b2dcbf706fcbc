"""Pascal VOC XML annotations: one ``<stem>.xml`` per image (event folders kept).

Pixel convention
    As the original VOC devkit: ``xmin .. xmax`` / ``ymin .. ymax`` are **1-based inclusive** pixel
    indices, so the 0-based inclusive extents used in ``srn`` shift by one:
    ``xmin = x1 + 1``, ``xmax = x2 + 1``. Example: ``x1 y1 x2 y2 = 10 20 19 39`` <->
    ``<xmin>11</xmin><ymin>21</ymin><xmax>20</xmax><ymax>40</ymax>`` (width ``xmax - xmin + 1`` = 10).
    Every object is class ``face``; ignored faces are ``<difficult>1</difficult>``. The ``<size>``
    element needs the image size.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from srn.fileio import atomic_write_bytes, path_inside
from srn.formats._lines import MAX_COORDINATE, format_number
from srn.formats.errors import FormatError
from srn.formats.records import Annotation


def voc_xml(record: Annotation, category: str = "face", folder: str = "images") -> bytes:
    """The VOC XML document of one image."""
    if record.width is None:
        raise ValueError(f"{record.name}: VOC needs the image size (width and height); give the images folder")
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = record.name
    ET.SubElement(ET.SubElement(root, "source"), "database").text = "DarkFace Studio"
    size = ET.SubElement(root, "size")
    for key, value in (("width", record.width), ("height", record.height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    ignore = record.ignore_or_false
    for i, (x1, y1, x2, y2) in enumerate(record.boxes):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = category
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = str(int(ignore[i]))
        bnd = ET.SubElement(obj, "bndbox")
        for key, value in (("xmin", x1), ("ymin", y1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(bnd, key).text = format_number(value + 1)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def voc_path(folder: str | os.PathLike[str], name: str) -> Path:
    """Where ``export_voc`` puts the XML of image ``name``: ``<folder>/<event>/<stem>.xml``
    (``UnsafePathError`` if that is outside ``folder``)."""
    rel = Path(name)
    return path_inside(folder, rel.parent / f"{rel.stem}.xml", "image name")


def export_voc(records: Iterable[Annotation], folder: str | os.PathLike[str], category: str = "face") -> list[Path]:
    """Write one VOC XML per record (each atomically). Every record needs its width and height;
    they are all checked before the first file is written."""
    records = list(records)
    missing = [r.name for r in records if r.width is None]
    if missing:
        raise ValueError(f"VOC needs image sizes; unknown for {len(missing)} images, e.g. {missing[0]}")
    targets = [voc_path(folder, r.name) for r in records]  # every path checked before the first write
    return [atomic_write_bytes(t, voc_xml(r, category)) for t, r in zip(targets, records)]


def read_voc(path: str | os.PathLike[str], category: str | None = "face") -> Annotation:
    """Read one VOC XML back into an Annotation (boxes 0-based inclusive; ``difficult`` -> ignore).

    Only objects named ``category`` are read (all objects when it is ``None``).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise FormatError(path, exc.position[0], f"not well-formed XML: {exc}") from None

    def number(elem: ET.Element | None, where: str) -> float:
        text = None if elem is None else (elem.text or "").strip()
        try:
            value = float(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise FormatError(path, None, f"{where}: expected a number, found {text!r}") from None
        if not math.isfinite(value) or abs(value) > MAX_COORDINATE:
            raise FormatError(path, None, f"{where}: expected a finite number within ±{MAX_COORDINATE:,.0f}, "
                                          f"found {text!r}")
        return value

    if root.tag != "annotation":
        raise FormatError(path, None, f"expected an <annotation> document, found <{root.tag}>")
    name = (root.findtext("filename") or "").strip()
    if not name:
        raise FormatError(path, None, "expected a <filename>, found none")
    width = int(number(root.find("size/width"), "size/width"))
    height = int(number(root.find("size/height"), "size/height"))
    boxes, ignore = [], []
    for k, obj in enumerate(root.iter("object"), start=1):
        if category is not None and (obj.findtext("name") or "").strip() != category:
            continue
        box = [number(obj.find(f"bndbox/{key}"), f"object {k} bndbox/{key}") - 1
               for key in ("xmin", "ymin", "xmax", "ymax")]
        if box[2] < box[0] or box[3] < box[1]:
            raise FormatError(path, None, f"object {k}: inverted box, xmax < xmin or ymax < ymin")
        boxes.append(box)
        ignore.append(number(obj.find("difficult"), f"object {k} difficult") != 0
                      if obj.find("difficult") is not None else False)
    return Annotation(name=name, boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4), width=width, height=height,
                      ignore=np.array(ignore, dtype=bool), source=path)
