"""The box-editing controller: scene gestures and window actions in, undoable store edits out.

``BoxEditor`` loads one image's boxes into a ``BoxScene``, turns what the user does (draw,
move, resize, accept, reject, delete, nudge, attributes) into commands from ``box_commands``
pushed on a ``QUndoStack``, and after every redo or undo reloads the current image's boxes from
the store, so the scene always shows what is stored, changes by others included. With 2,000
boxes that reload takes about 50 ms, mostly the store query (``tests/test_ui_box_editing.py``
prints it); the scene updates only the items whose box changed.

The undo stack outlives image switches: a command remembers its image, so undoing an edit of
another image just changes the store (and emits ``boxes_changed`` for that image).
"""

from __future__ import annotations

from collections.abc import Sequence

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.store import WIDER_ATTRIBUTES, Project, StoreError, image_dimensions
from app.store.boxes import BoxData, boxes_of, get_box
from app.store.history import undoable_edits
from app.ui.box_commands import BoxChange, BulkState, CreateBox, DeleteBox, EditBox, LoggedEdit, SetStatus
from app.ui.box_scene import SCORED_SOURCES, BoxScene

ATTRIBUTE_FIELDS = (*WIDER_ATTRIBUTES, "ignore")
"""What ``set_attributes`` may change."""
_PHASES = {"do": "", "undo": "Undo of ", "redo": "Redo of "}
UNDO_FROM_LOG = 200
"""How many of the author's earlier edits (from the edit log) a newly opened project can undo."""


class BoxEditor(QObject):
    """Edits the boxes of one image at a time through ``scene`` and ``undo_stack``."""

    boxes_changed = Signal(int)
    """A command (or its undo/redo) changed boxes of this image id in the store."""
    selection_changed = Signal(object)
    """The single selected box as now shown (``BoxData``), or ``None``."""
    image_loaded = Signal(object)
    """``load`` put this image id's boxes (``None``: none) in the scene: another image, or new boxes
    of the same one (a detection that just finished); ``boxes_changed`` covers the editor's own edits."""
    error = Signal(str)
    """An edit could not be stored; the message says why and what happened to it."""

    def __init__(self, project: Project | None, scene: BoxScene, undo_stack: QUndoStack,
                 author: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.scene = scene
        self.undo_stack = undo_stack
        self._author = author
        self.versions: dict[int, int] = {}
        self._image_id: int | None = None
        self._batch: list[tuple[int, tuple]] | None = None
        self.keep_drawing = False
        """After a box is drawn stay in draw mode (``True``), or go back to select (the default)."""
        scene.box_drawn.connect(self._on_drawn)
        scene.geometry_edited.connect(self._on_geometry)
        scene.edit_batch.connect(self._on_batch)
        scene.selectionChanged.connect(self._emit_selection)

    @property
    def author(self) -> str | None:
        """Who the edits are logged as: the ``author`` given, else the project's."""
        return self._author or (self.project.author if self.project is not None else None)

    def set_project(self, project: Project | None) -> None:
        """Edit another project: shows no image; the undo stack becomes this author's edits still in
        effect in the project's edit log (``LoggedEdit``), so undo goes on where the last session left it."""
        self.undo_stack.clear()
        self.project = project
        self.versions.clear()
        self.load(None)
        if project is not None:
            for edit in undoable_edits(project, self.author, limit=UNDO_FROM_LOG):
                self.undo_stack.push(LoggedEdit(self, edit))

    # -- loading -----------------------------------------------------------------------------
    @property
    def image_id(self) -> int | None:
        return self._image_id

    def load(self, image_id: int | None) -> None:
        """Show ``image_id``'s boxes (``None``: none); the undo history is kept.

        Loading the image already shown just refreshes it, keeping the selection.
        """
        if image_id is None:
            self._image_id = None
            self.scene.clear_boxes()
            self.image_loaded.emit(None)
            self._emit_selection()
            return
        if self.project is None:
            raise StoreError("no project is open")
        width, height = image_dimensions(self.project, image_id)
        if image_id != self._image_id or self.scene.image_size() != (width, height):
            self.scene.clear_boxes()  # another image: no item is reused
            self.scene.set_image_size(width, height)
        self._image_id = image_id
        self.scene.set_boxes(boxes_of(self.project, image_id))
        self.image_loaded.emit(image_id)
        self._emit_selection()

    def refresh(self) -> None:
        """Reload the current image's boxes from the store (keeps the selection where it can)."""
        if self._image_id is not None and self.project is not None:
            self.scene.set_boxes(boxes_of(self.project, self._image_id))

    def boxes(self) -> list[BoxData]:
        """The current image's boxes as shown (all but deleted ones, also those hidden by filters)."""
        return sorted(self.scene.boxes(), key=lambda b: b.id)

    def box(self, box_id: int) -> BoxData:
        """The box as shown, or as stored when it is not on the current image."""
        shown = self.scene.box(box_id)
        if shown is not None:
            return shown
        if self.project is None:
            raise StoreError("no project is open")
        return get_box(self.project, box_id)

    # -- selection and mode ------------------------------------------------------------------
    def selected_boxes(self) -> list[BoxData]:
        return self.scene.selected_boxes()

    def selected_box(self) -> BoxData | None:
        """The selected box when exactly one is selected."""
        selected = self.scene.selected_boxes()
        return selected[0] if len(selected) == 1 else None

    def select(self, box_ids: Sequence[int]) -> None:
        self.scene.select_only(box_ids)

    def set_mode(self, mode: str) -> None:
        self.scene.set_mode(mode)

    def mode(self) -> str:
        return self.scene.mode()

    # -- edits -------------------------------------------------------------------------------
    def create_box(self, xyxy: Sequence[float]) -> None:
        """Add a human, accepted box on the current image (what drawing does)."""
        if self._image_id is not None:
            self.undo_stack.push(CreateBox(self, self._image_id, xyxy))

    def delete_selected(self) -> None:
        boxes = self.selected_boxes()
        if boxes and self._image_id is not None:
            self.undo_stack.push(DeleteBox(self, self._image_id, boxes))

    def accept_selected(self) -> None:
        self._set_state(self.selected_boxes(), "accepted", "Accept")

    def reject_selected(self) -> None:
        """Reject the selected model/pseudo boxes (a drawn box is deleted with Del, not rejected)."""
        boxes = self.selected_boxes()
        scored = [b for b in boxes if b.source in SCORED_SOURCES]
        if len(scored) < len(boxes):
            self.error.emit("N rejects boxes the model proposed; a box a person drew is removed with Del"
                            + (" (the model boxes of the selection were rejected)" if scored else ""))
        self._set_state(scored, "rejected", "Reject")

    def set_status(self, image_id: int, status: str) -> bool:
        """Set an image's review status as an undo step; ``False`` when it already had it (or failed)."""
        command = SetStatus(self, image_id, status)
        self.undo_stack.push(command)
        return command.changed  # a plain attribute: Qt deletes an obsolete command on push

    def nudge_selected(self, dx: float, dy: float) -> None:
        """Shift the selected boxes by ``dx, dy`` pixels (stopping at the image border): one undo step."""
        width, height = self.scene.image_size()
        changes = []
        for b in self.selected_boxes():
            sx = min(max(dx, -b.x1), (width - 1) - b.x2)
            sy = min(max(dy, -b.y1), (height - 1) - b.y2)
            change = BoxChange.of(b, x1=b.x1 + sx, y1=b.y1 + sy, x2=b.x2 + sx, y2=b.y2 + sy)
            if change is not None:
                changes.append(change)
        self._push_edit(changes, "Nudge box" if len(changes) == 1 else f"Nudge {len(changes)} boxes")

    def accept_all_above(self, threshold: float) -> int:
        """Accept every model/pseudo proposal of this image scored ``>= threshold``: one undo step.

        Returns how many boxes it accepted (0: nothing pushed).
        """
        if self._image_id is None:
            return 0
        run = self.scene.shown_run()  # proposals of a run the views do not show are not accepted unseen
        candidates = [b for b in self.scene.boxes() if b.state == "proposed" and b.source in SCORED_SOURCES
                      and b.score is not None and b.score >= threshold
                      and (run is None or b.detection_run_id in (None, run))]
        if not candidates:
            return 0
        command = BulkState(self, self._image_id, threshold, run_id=run)
        self.undo_stack.push(command)
        return command.count  # a plain attribute: Qt may already have deleted an obsolete command

    def set_attributes(self, box_id: int, **attrs) -> None:
        """Set WIDER attributes (blur, expression, illumination, invalid, occlusion, pose) and ``ignore``."""
        unknown = set(attrs) - set(ATTRIBUTE_FIELDS)
        if unknown:
            raise ValueError(f"not a box attribute: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(ATTRIBUTE_FIELDS)})")
        values = {k: (bool(v) if k == "ignore" else int(v)) for k, v in attrs.items()}
        try:
            box = self.box(box_id)
        except StoreError as exc:
            self.error.emit(str(exc))
            return
        change = BoxChange.of(box, **values)
        if change is not None:
            names = ", ".join(sorted(change.after))
            self._push_edit([change], f"Set {names}", image_id=box.image_id)

    def _set_state(self, boxes: list[BoxData], state: str, verb: str) -> None:
        changes = [c for c in (BoxChange.of(b, state=state) for b in boxes) if c is not None]
        self._push_edit(changes, f"{verb} box" if len(changes) == 1 else f"{verb} {len(changes)} boxes")

    def _push_edit(self, changes: list[BoxChange], text: str, image_id: int | None = None) -> None:
        image_id = self._image_id if image_id is None else image_id
        if changes and image_id is not None:
            self.undo_stack.push(EditBox(self, image_id, changes, text))

    # -- scene gestures ----------------------------------------------------------------------
    def _on_drawn(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.create_box((x1, y1, x2, y2))
        if not self.keep_drawing:
            self.set_mode("select")

    def _on_geometry(self, box_id: int, xyxy: tuple) -> None:
        if self._batch is not None:
            self._batch.append((box_id, xyxy))
        else:
            self._push_geometry([(box_id, xyxy)])

    def _on_batch(self, starting: bool) -> None:
        if starting:
            self._batch = []
        else:
            batch, self._batch = self._batch or [], None
            self._push_geometry(batch)

    def _push_geometry(self, edits: list[tuple[int, tuple]]) -> None:
        changes, resized = [], False
        for box_id, (x1, y1, x2, y2) in edits:
            shown = self.scene.box(box_id)
            change = None if shown is None else BoxChange.of(shown, x1=x1, y1=y1, x2=x2, y2=y2)
            if change is not None:
                changes.append(change)
                resized |= (abs((x2 - x1) - (shown.x2 - shown.x1)) > 1e-6
                            or abs((y2 - y1) - (shown.y2 - shown.y1)) > 1e-6)
        if not changes:
            self.refresh()  # e.g. a drag that ended where it began: put the item back exactly
            return
        verb = "Resize" if resized else "Move"
        self._push_edit(changes, f"{verb} box" if len(changes) == 1 else f"{verb} {len(changes)} boxes")

    # -- hooks for the commands (see box_commands.EditorHooks) -------------------------------
    def command_done(self, image_id: int, select: Sequence[int] = ()) -> None:
        if image_id == self._image_id:
            self.refresh()
            if select:
                self.scene.select_only(select)
            else:
                self._emit_selection()
        self.boxes_changed.emit(image_id)

    def command_failed(self, command: QUndoCommand, phase: str, error: Exception) -> None:
        self.error.emit(f"{_PHASES.get(phase, '')}“{command.text()}” failed: {error}. The boxes now show what "
                        "is stored, and this step was removed from the undo history.")

    def _emit_selection(self) -> None:
        if shiboken6.isValid(self.scene):  # a scene being destroyed still reports its items leaving
            self.selection_changed.emit(self.selected_box())


__all__ = ["ATTRIBUTE_FIELDS", "BoxEditor"]
