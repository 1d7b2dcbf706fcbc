"""Annotation file formats: WIDER FACE, DARK FACE, COCO, Pascal VOC and YOLO.

Inside ``srn`` boxes are float64 (K, 4) **inclusive** pixel extents ``x1 y1 x2 y2`` (0-based): a box
covering columns ``x1 .. x2`` is ``x2 - x1 + 1`` wide. Each format module documents how its own
convention maps onto that:

* ``wider``: ``x1 y1 w h`` with ``w = x2 - x1 + 1`` (text ground truth, official ``.mat`` files, predictions)
* ``darkface``: ``x1 y1 x2 y2`` inclusive (labels with a count line; submissions with scores, no header)
* ``coco``: ``[x, y, w, h]`` continuous, numerically equal to WIDER's ``x1 y1 w h``
* ``voc``: ``xmin .. xmax`` 1-based inclusive, as the VOC devkit (``xmin = x1 + 1``)
* ``yolo``: normalised centre and size, ``cx = (x1 + x2 + 1) / 2 / width``, ``w = (x2 - x1 + 1) / width``

``records.Annotation`` is the common record every conversion goes through. Parsers are strict:
malformed input raises ``FormatError`` reading ``file:line: what was expected, what was found``.
"""

from srn.formats.errors import FormatError

__all__ = ["FormatError"]
