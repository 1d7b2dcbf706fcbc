"""Undoable review edits: ``QUndoCommand``s whose redo and undo write straight to the store.

There is no save button: the first ``redo()`` (run by ``QUndoStack.push``) is the edit itself,
committed at once. Undo and redo go through the store's edit log (``revert_edit``): undo writes
an ``undo`` row reverting the command's newest row, redo an ``undo`` of that, so the log always
says which edits are in effect and a restarted window can rebuild its undo stack from it
(``LoggedEdit``, ``history.undoable_edits``).

A command's first write names the box version the user saw, so a change someone else made in
between is never overwritten: the store raises ``ConflictError``. Undo and redo refuse the same
way when the box is no longer as the command left it. A failed write is reported through the
editor and the command marks itself obsolete, so the stack drops it. The editor's ``versions``
book keeps the version each box was left at by our latest write.

Commands talk to their editor through a small interface (see ``EditorHooks``), so they can be
tested and reused without the whole ``BoxEditor``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PySide6.QtGui import QUndoCommand

from app.store import Project, StoreError, set_review_status
from app.store.boxes import BoxData, set_state_by_score, write_box, write_new_box
from app.store.history import EditData, UndoableEdit, history, revert_edit

FAILURES = (StoreError, OSError)
"""What a store write may raise that the user must hear about (conflicts, vanished boxes, a
failing database: ``DatabaseFailure``, I/O)."""
_STATE_ACTIONS = {"accepted": "accept", "rejected": "reject", "deleted": "delete"}
STATUS_NAMES = {"new": "new", "in_progress": "in progress", "done": "done", "skipped": "skipped"}


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
        self.heads: list[int] = []
        """The newest edit-log row of each write this command made (what undo/redo revert next)."""
        self.box_ids: list[int | None] = []
        """The box each of ``heads`` changed (``None``: an image or a many-box edit)."""
        self.left_at: dict[int, int] = {}
        """Box versions as an earlier session's edit left them (``LoggedEdit``; else the versions book)."""

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

    def revert(self) -> None:
        self._revert_heads(reversed(range(len(self.heads))), "undo")

    def reapply(self) -> None:
        self._revert_heads(range(len(self.heads)), "redo")

    def _revert_heads(self, order, action: str) -> None:
        """Revert the rows in ``heads`` (in ``order``) through the log; all or nothing where possible."""
        done: list[int] = []
        try:
            for i in order:
                self._revert(i, action)
                done.append(i)
        except FAILURES:
            back = "redo" if action == "undo" else "undo"
            for i in reversed(done):
                try:
                    self._revert(i, back)
                except FAILURES:
                    pass  # the error being raised already tells the user the edit went wrong
            raise

    def _revert(self, i: int, action: str) -> None:
        box_id = self.box_ids[i] if i < len(self.box_ids) else None
        expected = None if box_id is None else self.editor.versions.get(box_id, self.left_at.get(box_id))
        edit = revert_edit(self.editor.project, self.heads[i], action=action, author=self.editor.author,
                           expected_version=expected)
        self.heads[i] = edit.id
        _book_versions(self.editor.versions, edit)

    def _write(self, box_id: int, expected: int, values: dict) -> BoxData:
        written = write_box(self.editor.project, box_id, expected, author=self.editor.author,
                            action=_action(values), **values)
        self.editor.versions[box_id] = written.box.version
        self.heads.append(written.edit_id)
        self.box_ids.append(box_id)
        return written.box


def _book_versions(versions: dict[int, int], edit: EditData) -> None:
    after = edit.after or {}
    if edit.entity != "box":
        return
    if edit.entity_id is not None and "version" in after:
        versions[edit.entity_id] = after["version"]
    for box_id, _state, version in after.get("boxes", ()):
        versions[box_id] = version


class EditBox(StoreCommand):
    """Change any editable fields (geometry, state, ignore, attributes) of one or more boxes.

    All-or-nothing as far as possible: if one box fails, those already written in the same
    pass are put back before the failure is reported.
    """

    def __init__(self, editor: EditorHooks, image_id: int, changes: Sequence[BoxChange], text: str) -> None:
        super().__init__(editor, image_id, text)
        self.changes = list(changes)

    def apply(self) -> None:
        try:
            for change in self.changes:
                self._write(change.box_id, change.seen_version, change.after)
        except FAILURES:
            self._revert_heads(reversed(range(len(self.heads))), "undo")
            raise
        self._select = [c.box_id for c in self.changes]

    def reapply(self) -> None:
        super().reapply()
        self._select = [c.box_id for c in self.changes]


class DeleteBox(EditBox):
    """Delete boxes (state ``deleted``, so the rows and their ids survive); undo restores the state."""

    def __init__(self, editor: EditorHooks, image_id: int, boxes: Sequence[BoxData], text: str | None = None) -> None:
        changes = [c for c in (BoxChange.of(b, state="deleted") for b in boxes) if c is not None]
        n = len(changes)
        super().__init__(editor, image_id, changes, text or ("Delete box" if n == 1 else f"Delete {n} boxes"))


class CreateBox(StoreCommand):
    """Draw a human box (accepted). Undo deletes it (state ``deleted``); redo brings the same row back."""

    def __init__(self, editor: EditorHooks, image_id: int, xyxy: Sequence[float], text: str = "Draw box",
                 **box_fields) -> None:
        super().__init__(editor, image_id, text)
        self.xyxy = tuple(float(v) for v in xyxy)
        self.box_fields = box_fields
        self.box_id: int | None = None

    def apply(self) -> None:
        written = write_new_box(self.editor.project, self.image_id, self.xyxy, author=self.editor.author,
                                **self.box_fields)
        self.box_id = written.box.id
        self.editor.versions[written.box.id] = written.box.version
        self.heads, self.box_ids = [written.edit_id], [written.box.id]
        self._select = [written.box.id]

    def reapply(self) -> None:
        super().reapply()
        self._select = [self.box_id]


class BulkState(StoreCommand):
    """Accept (or reject) every model/pseudo proposal of one image scored at or above a threshold.

    One store transaction and one log row (``set_state_by_score``); undo and redo revert that
    log row (``revert_edit``), which refuses if any of the boxes changed state since.
    """

    def __init__(self, editor: EditorHooks, image_id: int, threshold: float, state: str = "accepted",
                 text: str | None = None, run_id: int | None = None) -> None:
        verb = {"accepted": "Accept", "rejected": "Reject"}.get(state, "Set")
        super().__init__(editor, image_id, text or f"{verb} all scored ≥ {threshold:.2f}")
        self.threshold = float(threshold)
        self.state = state
        self.run_id = run_id
        """Only this detection run's proposals (the run shown); ``None``: every run's."""
        self.count = 0

    def apply(self) -> None:
        project, author = self.editor.project, self.editor.author
        count = set_state_by_score(project, self.state, above=self.threshold, image_ids=[self.image_id],
                                   run_ids=None if self.run_id is None else [self.run_id], author=author)
        if count == 0:
            self.setObsolete(True)  # nothing changed: no undo step
            return
        latest = history(project, "box", author=author, limit=1)
        if not latest or latest[0].action != "bulk_state":
            raise StoreError("could not find the bulk edit just made in the edit log; it cannot be undone here")
        self.heads = [latest[0].id]
        _book_versions(self.editor.versions, latest[0])
        self.count = count


class SetStatus(StoreCommand):
    """Set an image's review status (done, skipped, in progress, new) as an undoable step."""

    def __init__(self, editor: EditorHooks, image_id: int, status: str, text: str | None = None) -> None:
        super().__init__(editor, image_id, text or f"Mark image {STATUS_NAMES.get(status, status)}")
        self.status = status
        self.changed = False

    def apply(self) -> None:
        self.heads = set_review_status(self.editor.project, self.image_id, self.status, author=self.editor.author)
        self.changed = bool(self.heads)
        if not self.heads:
            self.setObsolete(True)  # already so: no undo step


_LOGGED_TEXT = {"create": "Draw box", "update": "Edit box", "accept": "Accept box", "reject": "Reject box",
                "delete": "Delete box", "bulk_state": "Set state of boxes"}


class LoggedEdit(StoreCommand):
    """An edit made before this session, read back from the edit log so undo survives a restart.

    Pushing it changes nothing (the edit is already in the store); undo and redo revert through
    the log like every other command.
    """

    def __init__(self, editor: EditorHooks, edit: UndoableEdit) -> None:
        if edit.entity == "image":
            status = (edit.after or {}).get("status")
            text = f"Mark image {STATUS_NAMES.get(status, status)}" if status else "Edit image"
        else:
            text = _LOGGED_TEXT.get(edit.action, "Edit box")
        super().__init__(editor, edit.image_id if edit.image_id is not None else -1, f"{text} (earlier session)")
        self.edit = edit
        self.heads = [edit.head_id]
        if edit.entity == "box" and edit.entity_id is not None:
            self.box_ids = [edit.entity_id]
            if edit.head_version is not None:
                self.left_at = {edit.entity_id: edit.head_version}

    def redo(self) -> None:
        if not self.done_once:  # the push: the edit is already in effect
            self.done_once = True
            return
        super().redo()


__all__ = ["BoxChange", "BulkState", "CreateBox", "DeleteBox", "EditBox", "EditorHooks", "FAILURES",
           "LoggedEdit", "STATUS_NAMES", "SetStatus", "StoreCommand"]
