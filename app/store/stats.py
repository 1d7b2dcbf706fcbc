"""Project statistics: how far the review is and what the labels look like.

Every number comes from a SQL aggregate (``COUNT ... GROUP BY``), so the statistics of a project
with millions of boxes cost a few queries, not a load of every row. A "face" is a label box:
state ``accepted``, any source (the boxes an export writes as labels). Face sizes are binned by
``sqrt(w * h)`` with inclusive widths ``w = x2 - x1 + 1``; the bins compare the area against the
squared bounds, which needs no ``sqrt`` in SQL (SQLite may lack it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select

from app.store.project import Project
from app.store.tables import BOX_SOURCES, BOX_STATES, REVIEW_STATUSES, Box, DetectionRun, Image, ModelVersion

SIZE_BINS = (("<10", 0, 10), ("10-20", 10, 20), ("20-30", 20, 30), ("30-50", 30, 50), ("50-100", 50, 100),
             ("100-200", 100, 200), (">=200", 200, None))
"""``(label, low, high)``: a face of size ``s = sqrt(w * h)`` px falls in the bin with ``low <= s < high``."""


@dataclass
class ProjectStats:
    images: int = 0
    images_by_status: dict[str, int] = field(default_factory=dict)
    boxes: int = 0
    """Every box row, deleted ones included."""
    boxes_by_source_state: dict[tuple[str, str], int] = field(default_factory=dict)
    faces: int = 0
    faces_per_image: dict[int, int] = field(default_factory=dict)
    """``{number of faces: number of images}``, images without faces under 0."""
    face_sizes: dict[str, int] = field(default_factory=dict)
    """``{bin label: faces}`` over ``SIZE_BINS``."""
    model_versions: int = 0
    detection_runs: int = 0

    def to_dict(self) -> dict:
        """A JSON-ready dict (``boxes_by_source_state`` nested as ``{source: {state: n}}``)."""
        nested: dict[str, dict[str, int]] = {}
        for (source, state), n in self.boxes_by_source_state.items():
            nested.setdefault(source, {})[state] = n
        return {"images": self.images, "images_by_status": dict(self.images_by_status), "boxes": self.boxes,
                "boxes_by_source_state": nested, "faces": self.faces,
                "faces_per_image": {str(k): v for k, v in sorted(self.faces_per_image.items())},
                "face_sizes": dict(self.face_sizes), "model_versions": self.model_versions,
                "detection_runs": self.detection_runs}

    def format_text(self) -> str:
        """A readable multi-line report."""
        out = [f"images: {self.images}"]
        out += [f"  {status:<12} {self.images_by_status.get(status, 0):>8}" for status in self.images_by_status]
        out.append(f"boxes: {self.boxes}")
        sources = [s for s in BOX_SOURCES if any(k[0] == s for k in self.boxes_by_source_state)]
        if sources:
            out.append("  " + " " * 10 + "".join(f"{state:>10}" for state in BOX_STATES))
            out += ["  " + f"{source:<10}" + "".join(f"{self.boxes_by_source_state.get((source, state), 0):>10}"
                                                     for state in BOX_STATES) for source in sources]
        with_faces = self.images - self.faces_per_image.get(0, 0)
        out.append(f"faces (accepted boxes): {self.faces} on {with_faces} images")
        per_image = ", ".join(f"{k}: {v}" for k, v in sorted(self.faces_per_image.items()))
        out.append(f"  images by number of faces: {per_image or 'no images'}")
        out.append("  face size sqrt(w*h) in px: " + ", ".join(f"{k}: {v}" for k, v in self.face_sizes.items()))
        out.append(f"model versions: {self.model_versions}")
        out.append(f"detection runs: {self.detection_runs}")
        return "\n".join(out)


def _size_bin():
    """A SQL CASE giving the ``SIZE_BINS`` label of a box from its area (no sqrt needed)."""
    area = (Box.x2 - Box.x1 + 1) * (Box.y2 - Box.y1 + 1)
    whens = [(area < high * high, label) for label, _, high in SIZE_BINS if high is not None]
    return case(*whens, else_=SIZE_BINS[-1][0])


def project_stats(project: Project) -> ProjectStats:
    """Compute the statistics of ``project`` in one read transaction."""
    stats = ProjectStats()
    faces = and_(Box.image_id == Image.id, Box.state == "accepted")
    with project.read() as s:
        by_status = dict(s.execute(select(Image.status, func.count()).group_by(Image.status)).all())
        stats.images_by_status = {status: by_status.get(status, 0) for status in REVIEW_STATUSES}
        stats.images = sum(by_status.values())
        by_kind = select(Box.source, Box.state, func.count()).group_by(Box.source, Box.state)
        stats.boxes_by_source_state = {(src, state): n for src, state, n in s.execute(by_kind)}
        stats.boxes = sum(stats.boxes_by_source_state.values())
        per_image = (select(func.count(Box.id).label("n")).select_from(Image).outerjoin(Box, faces)
                     .group_by(Image.id).subquery())
        stats.faces_per_image = {int(n): count for n, count in s.execute(
            select(per_image.c.n, func.count()).group_by(per_image.c.n).order_by(per_image.c.n))}
        stats.faces = sum(n * count for n, count in stats.faces_per_image.items())
        sized = select(_size_bin().label("bin")).where(Box.state == "accepted").subquery()
        by_size = dict(s.execute(select(sized.c.bin, func.count()).group_by(sized.c.bin)).all())
        stats.face_sizes = {label: by_size.get(label, 0) for label, _, _ in SIZE_BINS}
        stats.model_versions = s.scalar(select(func.count()).select_from(ModelVersion))
        stats.detection_runs = s.scalar(select(func.count()).select_from(DetectionRun))
    return stats


__all__ = ["SIZE_BINS", "ProjectStats", "project_stats"]
