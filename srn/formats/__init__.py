"""Annotation file formats (WIDER FACE, DARK FACE; COCO and others follow).

Pixel convention shared by both benchmark formats: boxes are integer pixel extents and widths
are inclusive, so a box covering columns ``x1 .. x2`` has width ``x2 - x1 + 1``.
"""

from srn.formats.errors import FormatError

__all__ = ["FormatError"]
