"""What changed on an image between two detection runs (after re-detecting with a new model).

A box of the new run is *new* when no box of the previous run overlaps it at IoU >= 0.5 (the
+1-pixel IoU of ``srn.eval``); a box of the previous run is *gone* when no box of the new run
overlaps it. The view highlights both so a reviewer looks only at what the new model changed.

A new run of the same kind (raw or enhanced) deletes the previous run's *untouched* proposals
(``app.store.detections``), so comparing two stored runs only sees the previous boxes a person
kept, accepted or rejected. To compare against everything the previous run proposed, take
``model_boxes_snapshot`` before re-detecting and pass it as ``previous_boxes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from app.store.boxes import BOX_COLUMNS, BoxData
from app.store.database import chunks
from app.store.errors import NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import Box, DetectionRun, DetectionRunImage
from srn.eval.matching import iou_matrix

VISIBLE = ("proposed", "accepted", "rejected")
"""Box states that count (deleted boxes are not on screen)."""
MATCH_IOU = 0.5


@dataclass(frozen=True)
class BoxChanges:
    """``new``: ids of new-run boxes with no match in the previous boxes; ``gone``: previous boxes
    with no match in the new run (as ``BoxData``, since their rows may no longer exist)."""

    new: list[int]
    gone: list[BoxData]

    @property
    def gone_ids(self) -> list[int]:
        return [b.id for b in self.gone]

    @property
    def ids(self) -> list[int]:
        """Every changed box id (new ones, then gone ones), for highlighting."""
        return [*self.new, *self.gone_ids]


def run_boxes(project: Project, image_id: int, run_id: int, states: Sequence[str] = VISIBLE) -> list[BoxData]:
    """The boxes of one image that a detection run produced (in id order)."""
    with project.read() as s:
        if s.get(DetectionRun, run_id) is None:
            raise NotFoundError(f"no detection run with id {run_id}")
        rows = s.execute(select(*BOX_COLUMNS).where(Box.image_id == image_id, Box.detection_run_id == run_id,
                                                    Box.state.in_(list(states))).order_by(Box.id))
        return [BoxData(*row) for row in rows]


def model_boxes_snapshot(project: Project, image_ids: Iterable[int], states: Sequence[str] = VISIBLE
                         ) -> dict[int, list[BoxData]]:
    """The model boxes of these images now: take it before a re-detection, compare after."""
    ids = [int(i) for i in image_ids]
    out: dict[int, list[BoxData]] = {i: [] for i in ids}
    with project.read() as s:
        for chunk in chunks(ids):
            for row in s.execute(select(*BOX_COLUMNS).where(Box.image_id.in_(chunk), Box.source == "model",
                                                            Box.state.in_(list(states))).order_by(Box.id)):
                box = BoxData(*row)
                out[box.image_id].append(box)
    return out


def _unmatched(a: list[BoxData], b: list[BoxData], iou: float) -> list[int]:
    """Indices of boxes of ``a`` that overlap no box of ``b`` at IoU >= ``iou``."""
    if not a:
        return []
    if not b:
        return list(range(len(a)))
    ious = iou_matrix(np.array([x.xyxy for x in a]), np.array([x.xyxy for x in b]))
    return np.nonzero(~(ious >= iou).any(axis=1))[0].tolist()


def compare_boxes(new: list[BoxData], previous: list[BoxData], iou: float = MATCH_IOU) -> BoxChanges:
    """The changes between two lists of boxes of one image (see the module docstring)."""
    return BoxChanges(new=[new[i].id for i in _unmatched(new, previous, iou)],
                      gone=[previous[i] for i in _unmatched(previous, new, iou)])


def changed_boxes(project: Project, image_id: int, new_run_id: int, previous_run_id: int | None = None, *,
                  previous_boxes: list[BoxData] | None = None, iou: float = MATCH_IOU) -> BoxChanges:
    """New and gone boxes of ``image_id`` between run ``new_run_id`` and either the stored boxes of
    ``previous_run_id`` or a ``previous_boxes`` snapshot (one of the two)."""
    if (previous_run_id is None) == (previous_boxes is None):
        raise StoreError("give either previous_run_id or previous_boxes, not both or neither")
    new = run_boxes(project, image_id, new_run_id)
    if previous_boxes is None:
        previous = run_boxes(project, image_id, previous_run_id)
    else:
        previous = [b for b in previous_boxes if b.image_id == image_id and b.detection_run_id != new_run_id]
    return compare_boxes(new, previous, iou)


def latest_run_of_model(project: Project, model_version_id: int, image_id: int,
                        enhanced: bool | None = None) -> int | None:
    """The newest run of a model version that covered ``image_id`` (optionally raw or enhanced only)."""
    query = (select(DetectionRun.id).join(DetectionRunImage, DetectionRunImage.run_id == DetectionRun.id)
             .where(DetectionRun.model_version_id == model_version_id, DetectionRunImage.image_id == image_id)
             .order_by(DetectionRun.id.desc()).limit(1))
    if enhanced is not None:
        query = query.where(DetectionRun.enhanced == enhanced)
    with project.read() as s:
        return s.scalar(query)


def changed_boxes_by_model(project: Project, image_id: int, new_model_version_id: int,
                           previous_model_version_id: int, *, enhanced: bool | None = None,
                           iou: float = MATCH_IOU) -> BoxChanges:
    """``changed_boxes`` between the newest runs of two model versions on ``image_id``."""
    runs = []
    for model_id in (new_model_version_id, previous_model_version_id):
        run_id = latest_run_of_model(project, model_id, image_id, enhanced)
        if run_id is None:
            raise NotFoundError(f"model version {model_id} has no detection run on image {image_id}")
        runs.append(run_id)
    return changed_boxes(project, image_id, runs[0], runs[1], iou=iou)
