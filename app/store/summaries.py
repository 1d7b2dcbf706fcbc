"""One row per image with its box counts: what the image browser lists (one query for all)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select

from app.store.project import Project
from app.store.tables import Box, Image


@dataclass(frozen=True)
class ImageSummary:
    id: int
    root_id: int
    rel_path: str
    width: int
    height: int
    status: str
    assignee: str | None
    labels: int
    """Accepted boxes (any source): the faces the image is labelled with."""
    proposed: int
    """Model/pseudo proposals waiting for a decision."""
    max_score: float | None
    """Highest score among the proposals (``None`` without proposals)."""


def image_summaries(project: Project, image_ids: list[int] | None = None) -> list[ImageSummary]:
    """Summaries in root/path order (of all images, or of ``image_ids``)."""
    proposed = and_(Box.state == "proposed", Box.source.in_(["model", "pseudo"]))
    counts = (select(Box.image_id,
                     func.sum(case((Box.state == "accepted", 1), else_=0)).label("labels"),
                     func.sum(case((proposed, 1), else_=0)).label("proposed"),
                     func.max(case((proposed, Box.score), else_=None)).label("max_score"))
              .group_by(Box.image_id))
    if image_ids is not None:
        counts = counts.where(Box.image_id.in_(image_ids))
    counts = counts.subquery()
    query = (select(Image.id, Image.root_id, Image.rel_path, Image.width, Image.height, Image.status, Image.assignee,
                    func.coalesce(counts.c.labels, 0), func.coalesce(counts.c.proposed, 0), counts.c.max_score)
             .outerjoin(counts, counts.c.image_id == Image.id).order_by(Image.root_id, Image.rel_path, Image.id))
    if image_ids is not None:
        query = query.where(Image.id.in_(image_ids))
    with project.read() as s:
        return [ImageSummary(*row) for row in s.execute(query)]
