"""Box edits: one committed transaction and one ``Edit`` row per user action, version-checked.

Each box carries a ``version`` that every change bumps. An edit names the version it read;
``UPDATE ... WHERE id = ? AND version = ?`` changes nothing if someone else got there first, and
the caller gets a ``ConflictError`` holding the box as it is now, never a silent lost update.

Deleting a box sets its state to ``deleted`` (so it can be undone); a new detection run removes
only untouched model proposals (see ``app.store.detections``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store.database import chunks
from app.store.errors import ConflictError, NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import BOX_SOURCES, BOX_STATES, WIDER_ATTRIBUTES, Box, Edit, Image, utcnow

COORDS = ("x1", "y1", "x2", "y2")
EDITABLE = (*COORDS, "state", "ignore", *WIDER_ATTRIBUTES)
"""Fields an edit may change."""


@dataclass(frozen=True)
class BoxData:
    """A box as read from the store (inclusive pixel extents ``x1 y1 x2 y2``)."""

    id: int
    image_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    source: str
    state: str
    score: float | None
    version: int
    ignore: bool = False
    blur: int = 0
    expression: int = 0
    illumination: int = 0
    invalid: int = 0
    occlusion: int = 0
    pose: int = 0
    author: str | None = None
    model_version_id: int | None = None
    detection_run_id: int | None = None

    @classmethod
    def from_row(cls, row: Box) -> BoxData:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def attributes(self) -> dict[str, int]:
        return {a: getattr(self, a) for a in WIDER_ATTRIBUTES}

    def editable(self) -> dict:
        return {f: getattr(self, f) for f in EDITABLE}


BOX_COLUMNS = tuple(getattr(Box, f) for f in BoxData.__dataclass_fields__)
"""``Box`` columns in ``BoxData`` field order: ``select(*BOX_COLUMNS)`` rows make ``BoxData(*row)``.
Plain columns, not ORM objects: 2,000 boxes load in a third of the time (the view reloads often)."""


def _check_values(values: dict) -> None:
    for key, value in values.items():
        if key not in EDITABLE:
            raise StoreError(f"box field {key!r} cannot be edited (editable: {', '.join(EDITABLE)})")
        if key in COORDS and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise StoreError(f"box coordinate {key} must be a finite number, got {value!r}")
        if key == "state" and value not in BOX_STATES:
            raise StoreError(f"box state must be one of {', '.join(BOX_STATES)}, got {value!r}")
        if key in WIDER_ATTRIBUTES and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise StoreError(f"box attribute {key} must be a non-negative integer, got {value!r}")


def _sync_ignore(values: dict) -> None:
    """Keep the ignore flag and WIDER's ``invalid`` attribute saying the same thing."""
    if "ignore" in values and "invalid" not in values:
        values["invalid"] = int(bool(values["ignore"]))
    elif "invalid" in values and "ignore" not in values:
        values["ignore"] = bool(values["invalid"])


def _check_geometry(image: Image, x1: float, y1: float, x2: float, y2: float) -> None:
    if not (x1 <= x2 and y1 <= y2):
        raise StoreError(f"box {x1:g} {y1:g} {x2:g} {y2:g}: needs x1 <= x2 and y1 <= y2")
    if x1 < 0 or y1 < 0 or x2 > image.width - 1 or y2 > image.height - 1:
        raise StoreError(f"box {x1:g} {y1:g} {x2:g} {y2:g} leaves the {image.width}x{image.height} image "
                         f"{image.rel_path} (inclusive pixel extents: 0..{image.width - 1}, 0..{image.height - 1})")


def _image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFoundError(f"no image with id {image_id}")
    return image


def get_box(project: Project, box_id: int) -> BoxData:
    with project.read() as s:
        row = s.get(Box, box_id)
        if row is None:
            raise NotFoundError(f"no box with id {box_id}")
        return BoxData.from_row(row)


def boxes_of(project: Project, image_id: int, states: Iterable[str] | None = ("proposed", "accepted", "rejected"),
             ) -> list[BoxData]:
    """The boxes of one image (by default all but deleted ones), in id order."""
    query = select(*BOX_COLUMNS).where(Box.image_id == image_id).order_by(Box.id)
    if states is not None:
        query = query.where(Box.state.in_(list(states)))
    with project.read() as s:
        return [BoxData(*row) for row in s.execute(query)]


def create_box(project: Project, image_id: int, xyxy: Iterable[float], *, source: str = "human",
               state: str = "accepted", score: float | None = None, ignore: bool = False,
               attributes: dict[str, int] | None = None, author: str | None = None) -> BoxData:
    """Add a box (default: a human-drawn, accepted face) and log it."""
    return write_new_box(project, image_id, xyxy, source=source, state=state, score=score, ignore=ignore,
                         attributes=attributes, author=author).box


def write_new_box(project: Project, image_id: int, xyxy: Iterable[float], *, source: str = "human",
                  state: str = "accepted", score: float | None = None, ignore: bool = False,
                  attributes: dict[str, int] | None = None, author: str | None = None) -> BoxWrite:
    """``create_box`` that also returns the id of the Edit row it logged (undoing it deletes the box)."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if source not in BOX_SOURCES:
        raise StoreError(f"box source must be one of {', '.join(BOX_SOURCES)}, got {source!r}")
    values = {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "state": state, **(attributes or {})}
    if ignore or "invalid" not in values:
        values["ignore"] = bool(ignore)
    _sync_ignore(values)
    author = author or project.author
    with project.write() as s:
        image = _image(s, image_id)
        _check_values(values)
        _check_geometry(image, x1, y1, x2, y2)
        row = Box(image_id=image_id, source=source, score=score, author=author, version=1, **values)
        s.add(row)
        s.flush()
        data = BoxData.from_row(row)
        edit = Edit(author=author, action="create", entity="box", entity_id=row.id, before=None,
                    after={**data.editable(), "version": 1})
        s.add(edit)
        s.flush()
        return BoxWrite(data, edit.id)


def _conflict(session: Session, box_id: int, expected: int) -> Exception:
    row = session.get(Box, box_id, populate_existing=True)
    if row is None:
        return NotFoundError(f"no box with id {box_id}")
    current = BoxData.from_row(row)
    who = f" by {current.author}" if current.author else ""
    return ConflictError(f"box {box_id} was changed{who} since you read it (your version {expected}, now "
                         f"{current.version}); reload it and apply your change again", current)


def _apply(session: Session, box_id: int, expected_version: int, values: dict, author: str) -> tuple[dict, BoxData]:
    """Version-checked UPDATE; returns (old values of the changed fields, new box)."""
    row = session.get(Box, box_id)
    if row is None:
        raise NotFoundError(f"no box with id {box_id}")
    image = _image(session, row.image_id)
    _check_values(values)
    old = {k: getattr(row, k) for k in values}
    merged = {k: values.get(k, getattr(row, k)) for k in COORDS}
    if any(k in values for k in COORDS):
        _check_geometry(image, *(float(merged[k]) for k in COORDS))
    result = session.execute(
        update(Box).where(Box.id == box_id, Box.version == expected_version)
        .values(**values, version=Box.version + 1, updated_at=utcnow(), author=author)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise _conflict(session, box_id, expected_version)
    session.expire(row)
    return old, BoxData.from_row(session.get(Box, box_id))


class BoxWrite(NamedTuple):
    """A box as one logged write left it, and that write's Edit row (what ``revert_edit`` undoes)."""

    box: BoxData
    edit_id: int


def update_box(project: Project, box_id: int, expected_version: int, *, author: str | None = None,
               action: str = "update", **changes) -> BoxData:
    """Change a box's fields (coordinates, state, ignore, attributes) if it is still at ``expected_version``."""
    return write_box(project, box_id, expected_version, author=author, action=action, **changes).box


def write_box(project: Project, box_id: int, expected_version: int, *, author: str | None = None,
              action: str = "update", **changes) -> BoxWrite:
    """``update_box`` that also returns the id of the Edit row it logged (for undo through the log)."""
    if not changes:
        raise StoreError("update_box needs at least one field to change")
    _sync_ignore(changes)
    author = author or project.author
    with project.write() as s:
        old, data = _apply(s, box_id, expected_version, changes, author)
        edit = Edit(author=author, action=action, entity="box", entity_id=box_id,
                    before={**old, "version": expected_version}, after={**changes, "version": data.version})
        s.add(edit)
        s.flush()
        return BoxWrite(data, edit.id)


def move_box(project: Project, box_id: int, expected_version: int, xyxy: Iterable[float], **kw) -> BoxData:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return update_box(project, box_id, expected_version, x1=x1, y1=y1, x2=x2, y2=y2, **kw)


def set_box_state(project: Project, box_id: int, expected_version: int, state: str, **kw) -> BoxData:
    """Accept, reject or delete (state ``deleted``) a box."""
    action = {"accepted": "accept", "rejected": "reject", "deleted": "delete"}.get(state, "update")
    return update_box(project, box_id, expected_version, state=state, action=action, **kw)


def delete_box(project: Project, box_id: int, expected_version: int, **kw) -> BoxData:
    return set_box_state(project, box_id, expected_version, "deleted", **kw)


def set_state_by_score(project: Project, state: str, *, above: float | None = None, below: float | None = None,
                       image_ids: Iterable[int] | None = None, sources: Iterable[str] = ("model", "pseudo"),
                       from_states: Iterable[str] = ("proposed",), run_ids: Iterable[int] | None = None,
                       author: str | None = None) -> int:
    """Accept (or reject) every box scored ``>= above`` (or ``< below``): one transaction, one log row.

    Only boxes from ``sources`` in ``from_states`` are touched (by default: model proposals), and
    with ``run_ids`` only those of these detection runs (the run the window shows).
    Returns the number of boxes changed.
    """
    if state not in BOX_STATES:
        raise StoreError(f"box state must be one of {', '.join(BOX_STATES)}, got {state!r}")
    if (above is None) == (below is None):
        raise StoreError("give exactly one of above= or below=")
    query = select(Box.id, Box.state, Box.version).where(Box.source.in_(list(sources)),
                                                        Box.state.in_(list(from_states)), Box.score.is_not(None))
    query = query.where(Box.score >= above) if above is not None else query.where(Box.score < below)
    if image_ids is not None:
        query = query.where(Box.image_id.in_(list(image_ids)))
    if run_ids is not None:
        query = query.where(Box.detection_run_id.in_(list(run_ids)))
    author = author or project.author
    with project.write() as s:
        rows = s.execute(query.order_by(Box.id)).all()
        if not rows:
            return 0
        for chunk in chunks([r.id for r in rows]):
            s.execute(update(Box).where(Box.id.in_(chunk))
                      .values(state=state, version=Box.version + 1, updated_at=utcnow(), author=author)
                      .execution_options(synchronize_session=False))
        s.add(Edit(author=author, action="bulk_state", entity="box", entity_id=None,
                   before={"boxes": [[r.id, r.state, r.version] for r in rows]},
                   after={"boxes": [[r.id, state, r.version + 1] for r in rows],
                          "rule": {"state": state, "above": above, "below": below}}))
    return len(rows)


def box_counts(project: Project, image_id: int) -> dict[str, int]:
    """Boxes of one image by state."""
    from sqlalchemy import func

    with project.read() as s:
        return dict(s.execute(select(Box.state, func.count()).where(Box.image_id == image_id)
                              .group_by(Box.state)).all())


__all__ = ["BOX_COLUMNS", "BoxData", "BoxWrite", "write_box", "write_new_box", "EDITABLE", "box_counts", "boxes_of",
           "create_box", "delete_box", "get_box", "move_box", "set_box_state", "set_state_by_score", "update_box"]
