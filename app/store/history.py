"""History, undo and redo from the append-only edit log, so they survive a restart.

Undo is itself an edit (action ``undo``, ``reverts_id`` = the edit it undoes); redo undoes an
undo (action ``redo``). ``undo_last(author)`` takes that author's newest edit that is not an
undo and not already undone; ``redo_last(author)`` takes the newest undo not already redone,
provided the author made no new edit after it (a new edit clears the redo stack, as in every
editor). Reverting checks that the entity is still as the edit left it; if someone changed it
since, it raises ``ConflictError`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store.boxes import _apply
from app.store.errors import ConflictError, NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import Box, Edit, Image, utcnow

UNDOABLE = ("box", "image")
"""Entities whose edits undo/redo can revert (imports and runs are recorded, not undone)."""


@dataclass(frozen=True)
class EditData:
    id: int
    at: datetime
    author: str | None
    action: str
    entity: str
    entity_id: int | None
    before: object
    after: object
    reverts_id: int | None

    @classmethod
    def from_row(cls, row: Edit) -> EditData:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


def history(project: Project, entity: str | None = None, entity_id: int | None = None, *,
            author: str | None = None, limit: int | None = None) -> list[EditData]:
    """Edits, newest first, optionally of one entity (``"box"``/``"image"``, id) or one author."""
    query = select(Edit).order_by(Edit.id.desc())
    if entity is not None:
        query = query.where(Edit.entity == entity)
    if entity_id is not None:
        query = query.where(Edit.entity_id == entity_id)
    if author is not None:
        query = query.where(Edit.author == author)
    if limit is not None:
        query = query.limit(limit)
    with project.read() as s:
        return [EditData.from_row(e) for e in s.scalars(query)]


def _revert_box(s: Session, edit: Edit, author: str, expected_version: int | None) -> tuple[dict, dict]:
    """Undo one single-box edit; returns the (before, after) of the new edit row."""
    after, before = edit.after or {}, edit.before
    current = s.get(Box, edit.entity_id)
    if current is None:
        raise NotFoundError(f"box {edit.entity_id} of edit {edit.id} no longer exists")
    changed = [k for k, v in after.items() if k != "version" and getattr(current, k) != v]
    if changed:
        raise ConflictError(f"box {edit.entity_id}: {', '.join(changed)} changed after edit {edit.id}; cannot undo it")
    if expected_version is not None and current.version != expected_version:  # changed since, in any field
        who = f" by {current.author}" if current.author else ""
        raise ConflictError(f"box {edit.entity_id} was changed{who} since your last edit of it (version "
                            f"{expected_version}, now {current.version}); cannot undo edit {edit.id}")
    target = {"state": "deleted"} if before is None else {k: v for k, v in before.items() if k != "version"}
    old, data = _apply(s, edit.entity_id, current.version, target, author)
    return {**old, "version": current.version}, {**target, "version": data.version}


def _revert_bulk(s: Session, edit: Edit, author: str) -> tuple[dict, dict]:
    """Undo a many-box state change; both sides are ``{"boxes": [[id, state, version], ...]}``."""
    before = {e[0]: e for e in edit.before["boxes"]}
    after = edit.after["boxes"]
    now = {b.id: b for b in s.scalars(select(Box).where(Box.id.in_([e[0] for e in after])))}
    for box_id, state, _version in after:
        box = now.get(box_id)
        if box is None or box.state != state:
            raise ConflictError(f"box {box_id} was changed after edit {edit.id}; cannot undo it")
    stamp = utcnow()
    for box_id, _state, _version in after:
        s.execute(update(Box).where(Box.id == box_id, Box.version == now[box_id].version)
                  .values(state=before[box_id][1], version=Box.version + 1, updated_at=stamp, author=author)
                  .execution_options(synchronize_session=False))
    current = [[i, st, now[i].version] for i, st, _ in after]
    return ({"boxes": current}, {"boxes": [[i, before[i][1], v + 1] for i, _, v in current]})


def _revert_image(s: Session, edit: Edit) -> tuple[dict, dict]:
    image = s.get(Image, edit.entity_id)
    if image is None:
        raise NotFoundError(f"image {edit.entity_id} of edit {edit.id} no longer exists")
    for key, value in edit.after.items():
        if getattr(image, key) != value:
            raise ConflictError(f"image {edit.entity_id}: {key} was changed after edit {edit.id}; cannot undo it")
    for key, value in edit.before.items():
        setattr(image, key, value)
    return dict(edit.after), dict(edit.before)


def revert_edit(project: Project, edit_id: int, *, action: str = "undo", author: str | None = None,
                expected_version: int | None = None) -> EditData:
    """Apply the inverse of edit ``edit_id`` as a new edit (one transaction) and return it.

    It refuses (``ConflictError``) when the fields the edit changed no longer hold what it left;
    ``expected_version`` (a single-box edit) also refuses when the box changed at all since then.
    """
    author = author or project.author
    with project.write() as s:
        edit = s.get(Edit, edit_id)
        if edit is None:
            raise NotFoundError(f"no edit with id {edit_id}")
        if edit.entity == "box" and edit.before is not None and "boxes" in edit.before:
            before, after = _revert_bulk(s, edit, author)
            new = Edit(author=author, action=action, entity="box", entity_id=None, before=before, after=after,
                       reverts_id=edit.id)
        elif edit.entity == "box":
            before, after = _revert_box(s, edit, author, expected_version)
            new = Edit(author=author, action=action, entity="box", entity_id=edit.entity_id, before=before,
                       after=after, reverts_id=edit.id)
        elif edit.entity == "image":
            before, after = _revert_image(s, edit)
            new = Edit(author=author, action=action, entity="image", entity_id=edit.entity_id, before=before,
                       after=after, reverts_id=edit.id)
        else:
            raise StoreError(f"edit {edit_id}: cannot undo changes to {edit.entity!r}")
        s.add(new)
        s.flush()
        return EditData.from_row(new)


def _in_effect(s: Session, author: str) -> tuple[list[tuple[int, str]], dict[int, bool]]:
    """The author's edits (newest first) and whether each is in effect: not reverted by an edit in effect."""
    rows = s.execute(select(Edit.id, Edit.action, Edit.reverts_id)
                     .where(Edit.author == author, Edit.entity.in_(UNDOABLE))
                     .order_by(Edit.id.desc())).all()
    reverted_by = {r.reverts_id: r.id for r in rows if r.reverts_id is not None}
    effect: dict[int, bool] = {}
    for edit_id, _, _ in rows:  # newest first: a revert is always newer than what it reverts
        by = reverted_by.get(edit_id)
        effect[edit_id] = by is None or not effect[by]
    return [(r.id, r.action) for r in rows], effect


@dataclass(frozen=True)
class UndoableEdit:
    """One of an author's edits still in effect, as a restarted editor's undo stack holds it.

    ``head_id`` is the newest row of its revert chain (the edit itself, or the last redo of it):
    what undoing it now must revert, so each row is reverted at most once.
    """

    edit_id: int
    head_id: int
    action: str
    entity: str
    entity_id: int | None
    image_id: int | None
    after: object
    head_version: int | None = None
    """The box version the head row left (a single-box edit): undo refuses if it changed since."""


def undoable_edits(project: Project, author: str | None = None, limit: int = 200) -> list[UndoableEdit]:
    """The author's newest ``limit`` single-entity edits still in effect, oldest first.

    An editor opening the project pushes these under its own undo stack, so undo survives a
    restart; bulk edits (one row for many boxes) are included, imports and runs are not.
    """
    author = author or project.author
    with project.read() as s:
        rows = s.execute(select(Edit.id, Edit.action, Edit.entity, Edit.entity_id, Edit.reverts_id, Edit.after)
                         .where(Edit.author == author, Edit.entity.in_(UNDOABLE))
                         .order_by(Edit.id.desc())).all()
        reverted_by = {}
        for r in reversed(rows):  # oldest first: a row reverted twice counts its first reverter
            if r.reverts_id is not None:
                reverted_by.setdefault(r.reverts_id, r.id)
        effect: dict[int, bool] = {}
        for r in rows:
            by = reverted_by.get(r.id)
            effect[r.id] = by is None or not effect[by]
        chosen: list[tuple] = []  # (row, head id), newest first
        for r in rows:
            if r.action in ("undo", "redo") or not effect[r.id]:
                continue
            head = r.id
            while head in reverted_by:
                head = reverted_by[head]
            chosen.append((r, head))
            if len(chosen) == limit:
                break
        box_ids = {r.entity_id for r, _ in chosen if r.entity == "box" and r.entity_id is not None}
        box_ids |= {r.after["boxes"][0][0] for r, _ in chosen  # a bulk edit: the image of its first box
                    if r.entity == "box" and r.entity_id is None and (r.after or {}).get("boxes")}
        image_of = dict(s.execute(select(Box.id, Box.image_id).where(Box.id.in_(box_ids))).all()) if box_ids else {}
    after_of = {r.id: r.after for r in rows}
    out = []
    for r, head in reversed(chosen):
        if r.entity == "image":
            image_id = r.entity_id
        elif r.entity_id is not None:
            image_id = image_of.get(r.entity_id)
        else:
            image_id = image_of.get(((r.after or {}).get("boxes") or [[None]])[0][0])
        version = (after_of[head] or {}).get("version") if r.entity == "box" and r.entity_id is not None else None
        out.append(UndoableEdit(r.id, head, r.action, r.entity, r.entity_id, image_id, r.after, version))
    return out


def undo_last(project: Project, author: str | None = None) -> EditData | None:
    """Undo the author's newest edit that is still in effect; ``None`` when there is nothing to undo."""
    author = author or project.author
    with project.read() as s:
        edits, effect = _in_effect(s, author)
    target = next((i for i, action in edits if action != "undo" and effect[i]), None)
    return None if target is None else revert_edit(project, target, action="undo", author=author)


def redo_last(project: Project, author: str | None = None) -> EditData | None:
    """Redo the author's newest undo still in effect, unless they edited since; ``None`` when there is nothing."""
    author = author or project.author
    with project.read() as s:
        edits, effect = _in_effect(s, author)
    for edit_id, action in edits:
        if action not in ("undo", "redo"):
            return None  # a new edit after the undos clears the redo stack
        if action == "undo" and effect[edit_id]:
            return revert_edit(project, edit_id, action="redo", author=author)
    return None


__all__ = ["EditData", "UndoableEdit", "history", "redo_last", "revert_edit", "undo_last", "undoable_edits"]
