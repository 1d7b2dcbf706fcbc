"""Undoable box edits: ``QUndoCommand``s whose redo and undo write straight to the store.

There is no save button: the first ``redo()`` (run by ``QUndoStack.push``) is the edit itself,
committed at once; undo and redo are further committed edits. Every write names the box
version it expects, so a change someone else made in between is never overwritten: the store
raises ``ConflictError``, the command reports it through its editor and marks itself obsolete,
and the stack drops it.

The expected version lives in the editor's ``versions`` book (box id -> version of our last
write), not in each command: when a box is created, then moved, undoing the move bumps the
version, and undoing the creation must expect that new version, not the one it wrote itself.
A command's first write expects the version the user saw when making the edit.

Commands talk to their editor through a small interface (see ``EditorHooks``), so they can be
tested and reused without the whole ``BoxEditor``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PySide6.QtGui import QUndoCommand

from app.store import Project, StoreError
from app.store.boxes import BoxData, create_box, set_state_by_score, update_box
from app.store.history import EditData, history, revert_edit

FAILURES = (StoreError, OSError)
"""What a store write may raise that the user must hear about (conflicts, vanished boxes, a
failing database: ``DatabaseFailure``, I/O)."""
_STATE_ACTIONS = {"accepted": "accept", "rejected": "reject", "deleted": "delete"}


class EditorHooks(Protocol):
    """What a command needs from its editor."""

    project: Project
    author: str
    versions: dict[int, int]
    """Box id -> the version our latest write left it at."""

    def command_done(self, image_id: int, select: Sequence[int] = ()) -> None:
        """After every redo/undo, successful or not: refresh what shows ``image_id``."""

    def command_failed(self, command: QUndoCommand, phase: str, error: Exception) -> None:
        """A write failed; ``phase`` is ``"do"``, ``"undo"`` or ``"redo"``."""


@dataclass(frozen=True)
class BoxChange:
    """One box's part of an edit: field values before and after, and the version the user saw."""

    box_id: int
    seen_version: int
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    @classmethod
    def of(cls, box: BoxData, **after) -> BoxChange | None:
        """The change setting ``after`` on ``box``; ``None`` when nothing would change."""
        after = {k: v for k, v in after.items() if getattr(box, k) != v}
        if not after:
            return None
        return cls(box.id, box.version, {k: getattr(box, k) for k in after}, after)


def _action(values: dict) -> str:
    if set(values) == {"state"}:
        return _STATE_ACTIONS.get(values["state"], "update")
    return "update"


class StoreCommand(QUndoCommand):
    """Base: runs a store write in ``redo``/``undo``; a failed write reports and goes obsolete."""

    def __init__(self, editor: EditorHooks, image_id: int, text: str) -> None:
        super().__init__(text)
        self.editor = editor
        self.image_id = image_id
        self.done_once = False
        self._select: list[int] = []

    def redo(self) -> None:
        self._run(self.apply if not self.done_once else self.reapply, "redo" if self.done_once else "do")
        self.done_once = True

    def undo(self) -> None:
        self._run(self.revert, "undo")

    def _run(self, write: Callable[[], None], phase: str) -> None:
        self._select = []
        try:
            write()
        except FAILURES as exc:
            self.setObsolete(True)
            self.editor.command_failed(self, phase, exc)
        self.editor.command_done(self.image_id, self._select)

    def apply(self) -> None:
        """The first write (the user's edit)."""
        self.reapply()

    def reapply(self) -> None:
        """Redo after an undo."""
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError

    def _write(self, box_id: int, expected: int, values: dict) -> BoxData:
        data = update_box(self.editor.project, box_id, expected, author=self.editor.author,
                          action=_action(values), **values)
        self.editor.versions[box_id] = data.version
        return data


class EditBox(StoreCommand):
    """Change any editable fields (geometry, state, ignore, attributes) of one or more boxes.

    All-or-nothing as far as possible: if one box fails, those already written in the same
    pass are put back before the failure is reported.
    """

    def __init__(self, editor: EditorHooks, image_id: int, changes: Sequence[BoxChange], text: str) -> None:
        super().__init__(editor, image_id, text)
        self.changes = list(changes)

    def apply(self) -> None:
        self._pass(self.changes, "after", first=True)

    def reapply(self) -> None:
        self._pass(self.changes, "after", first=False)

    def revert(self) -> None:
        self._pass(list(reversed(self.changes)), "before", first=False)

    def _pass(self, changes: list[BoxChange], side: str, first: bool) -> None:
        done: list[BoxChange] = []
        try:
            for change in changes:
                expected = change.seen_version if first else self.editor.versions.get(change.box_id,
                                                                                      change.seen_version)
                self._write(change.box_id, expected, getattr(change, side))
                done.append(change)
        except FAILURES:
            back = "before" if side == "after" else "after"
            for change in reversed(done):
                try:
                    self._write(change.box_id, self.editor.versions[change.box_id], getattr(change, back))
                except FAILURES:
                    pass  # the error being raised already tells the user the edit went wrong
            raise
        self._select = [c.box_id for c in changes] if side == "after" else []


class DeleteBox(EditBox):
    """Delete boxes (state ``deleted``, so the rows and their ids survive); undo restores the state."""

    def __init__(self, editor: EditorHooks, image_id: int, boxes: Sequence[BoxData], text: str | None = None) -> None:
        changes = [c for c in (BoxChange.of(b, state="deleted") for b in boxes) if c is not None]
        n = len(changes)
        super().__init__(editor, image_id, changes, text or ("Delete box" if n == 1 else f"Delete {n} boxes"))


class CreateBox(StoreCommand):
    """Draw a human box (accepted). Undo deletes it (state ``deleted``); redo accepts the same row."""

    def __init__(self, editor: EditorHooks, image_id: int, xyxy: Sequence[float], text: str = "Draw box",
                 **box_fields) -> None:
        super().__init__(editor, image_id, text)
        self.xyxy = tuple(float(v) for v in xyxy)
        self.box_fields = box_fields
        self.box_id: int | None = None

    def apply(self) -> None:
        data = create_box(self.editor.project, self.image_id, self.xyxy, author=self.editor.author,
                          **self.box_fields)
        self.box_id = data.id
        self.editor.versions[data.id] = data.version
        self._select = [data.id]

    def reapply(self) -> None:
        self._write(self.box_id, self.editor.versions[self.box_id], {"state": "accepted"})
        self._select = [self.box_id]

    def revert(self) -> None:
        self._write(self.box_id, self.editor.versions[self.box_id], {"state": "deleted"})


class BulkState(StoreCommand):
    """Accept (or reject) every model/pseudo proposal of one image scored at or above a threshold.

    One store transaction and one log row (``set_state_by_score``); undo and redo revert that
    log row (``revert_edit``), which refuses if any of the boxes changed state since.
    """

    def __init__(self, editor: EditorHooks, image_id: int, threshold: float, state: str = "accepted",
                 text: str | None = None) -> None:
        verb = {"accepted": "Accept", "rejected": "Reject"}.get(state, "Set")
        super().__init__(editor, image_id, text or f"{verb} all scored ≥ {threshold:.2f}")
        self.threshold = float(threshold)
        self.state = state
        self.count = 0
        self._edit_id: int | None = None

    def apply(self) -> None:
        project, author = self.editor.project, self.editor.author
        count = set_state_by_score(project, self.state, above=self.threshold, image_ids=[self.image_id],
                                   author=author)
        if count == 0:
            self.setObsolete(True)  # nothing changed: no undo step
            return
        latest = history(project, "box", author=author, limit=1)
        if not latest or latest[0].action != "bulk_state":
            raise StoreError("could not find the bulk edit just made in the edit log; it cannot be undone here")
        self._took(latest[0])
        self.count = count

    def reapply(self) -> None:
        self._took(revert_edit(self.editor.project, self._edit_id, action="redo", author=self.editor.author))

    def revert(self) -> None:
        self._took(revert_edit(self.editor.project, self._edit_id, action="undo", author=self.editor.author))

    def _took(self, edit: EditData) -> None:
        self._edit_id = edit.id
        for box_id, _state, version in edit.after["boxes"]:
            self.editor.versions[box_id] = version


__all__ = ["BoxChange", "BulkState", "CreateBox", "DeleteBox", "EditBox", "EditorHooks", "FAILURES",
           "StoreCommand"]
