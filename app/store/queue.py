"""Review-queue orders: which image an annotator should look at next.

* ``unreviewed``: new images first, then in-progress, skipped, done; by path within each.
* ``lowest_confidence``: images whose model proposals sit closest to the decision threshold
  (smallest ``|score - threshold|`` over the image's proposed model boxes) first; images without
  proposals last.
* ``disagreement``: images where detections on the raw and on the enhanced image disagree most
  (boxes above ``min_score`` left unmatched at IoU 0.5 by a greedy one-to-one matching, counted
  on both sides) first. Only images that both a raw and an enhanced run covered take part.
* ``path``: by root and path.

Paths sort naturally, as a file manager lists them: ``2.png`` before ``10.png``.

Every order can be limited to one assignee and to some review statuses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from app.store.errors import StoreError
from app.store.project import Project
from app.store.tables import Box, DetectionRun, DetectionRunImage, Image
from srn.eval.matching import iou_matrix

QUEUE_ORDERS = ("unreviewed", "lowest_confidence", "disagreement", "path")


@dataclass(frozen=True)
class QueueItem:
    image_id: int
    rel_path: str
    status: str
    assignee: str | None
    key: float | None = None
    """The value the order sorts by (distance to the threshold, disagreement count), when it has one."""


_DIGITS = re.compile(r"\d+")


def natural_key(path: str) -> str:
    """Sort key reading digit runs as numbers (``img2`` < ``img10``), case-insensitive otherwise.

    One string per path (digit runs right-aligned to 20 places, the extension after a NUL so
    "a.png" sorts before "a2.png", as file managers list them): no tuple per path, so a sort
    allocates little (what it costs a 10,000-image project: ``benchmarks/gui_bench.py`` (a))."""
    low = path.casefold()
    dot = low.rfind(".")
    stem, ext = (low[:dot], low[dot:]) if dot > low.rfind("/") + 1 else (low, "")
    return _DIGITS.sub(_padded, stem) + "\0" + ext


def _padded(match: re.Match) -> str:
    return match.group().rjust(20, "0")


def _filtered(query, assignee: str | None, statuses: Iterable[str] | None):
    if assignee is not None:
        query = query.where(Image.assignee == assignee)
    if statuses is not None:
        query = query.where(Image.status.in_(list(statuses)))
    return query


def unmatched_count(a: np.ndarray, b: np.ndarray, iou: float = 0.5) -> int:
    """Boxes of ``a`` and ``b`` (inclusive xyxy) left without a partner by greedy IoU matching."""
    if len(a) == 0 or len(b) == 0:
        return len(a) + len(b)
    ious = iou_matrix(a, b, inclusive=True)
    matched = 0
    while True:
        i, j = np.unravel_index(np.argmax(ious), ious.shape)
        if ious[i, j] < iou:
            break
        matched += 1
        ious[i, :] = -1
        ious[:, j] = -1
    return len(a) + len(b) - 2 * matched


def review_queue(project: Project, order: str = "unreviewed", *, assignee: str | None = None,
                 statuses: Iterable[str] | None = None, limit: int | None = None, threshold: float = 0.5,
                 min_score: float = 0.5) -> list[QueueItem]:
    """Images in review order (see the module docstring)."""
    if order not in QUEUE_ORDERS:
        raise StoreError(f"queue order must be one of {', '.join(QUEUE_ORDERS)}, got {order!r}")
    cols = (Image.id, Image.rel_path, Image.status, Image.assignee)
    with project.read() as s:
        if order in ("unreviewed", "path"):
            rows = s.execute(_filtered(select(*cols, Image.root_id), assignee, statuses)).all()
            rank = {"new": "0", "in_progress": "1", "skipped": "2", "done": "3"} if order == "unreviewed" else {}
            # one string per row (rank, root, natural path; a path is unique in its root): SQL's
            # ORDER BY cannot sort naturally, so the rows are sorted here
            other = "4" if rank else ""
            rows.sort(key=lambda r: f"{rank.get(r.status, other)}{r.root_id:09d}/{natural_key(r.rel_path)}")
            return [QueueItem(r.id, r.rel_path, r.status, r.assignee) for r in rows[:limit]]
        if order == "lowest_confidence":
            closeness = (select(Box.image_id, func.min(func.abs(Box.score - threshold)).label("d"))
                         .where(Box.state == "proposed", Box.source.in_(["model", "pseudo"]), Box.score.is_not(None))
                         .group_by(Box.image_id).subquery())
            query = select(*cols, closeness.c.d).outerjoin(closeness, closeness.c.image_id == Image.id)
            rows = s.execute(_filtered(query, assignee, statuses)).all()
            rows.sort(key=lambda r: (r.d is None, r.d or 0.0, natural_key(r.rel_path), r.id))
            return [QueueItem(r.id, r.rel_path, r.status, r.assignee, r.d) for r in rows[:limit]]
        # disagreement
        boxes = s.execute(
            select(Box.image_id, DetectionRun.enhanced, Box.x1, Box.y1, Box.x2, Box.y2)
            .join(DetectionRun, DetectionRun.id == Box.detection_run_id)
            .where(Box.source == "model", Box.state != "deleted", Box.score >= min_score)).all()
        images = {r.id: r for r in s.execute(_filtered(select(*cols), assignee, statuses))}
        covered: dict[bool, set[int]] = {False: set(), True: set()}
        for enhanced, image_id in s.execute(select(DetectionRun.enhanced, DetectionRunImage.image_id)
                                            .join(DetectionRunImage, DetectionRunImage.run_id == DetectionRun.id)):
            covered[bool(enhanced)].add(image_id)
    per: dict[int, dict[bool, list]] = defaultdict(lambda: {False: [], True: []})
    for image_id, enhanced, *xyxy in boxes:
        per[image_id][bool(enhanced)].append(xyxy)
    scored = []
    for image_id in sorted(covered[False] & covered[True]):
        kinds = per[image_id]
        if image_id in images:
            count = unmatched_count(np.array(kinds[False], float), np.array(kinds[True], float))
            r = images[image_id]
            scored.append(QueueItem(r.id, r.rel_path, r.status, r.assignee, float(count)))
    scored.sort(key=lambda q: (-q.key, natural_key(q.rel_path), q.image_id))
    return scored[:limit] if limit is not None else scored
