"""Review status in the window: done / skipped / in progress / new as undo steps, and where they lead.

A mixin of ``ReviewWindow`` (it uses the window's browser, editor, scene, undo stack and
notices): the rules a reviewer's pass depends on live here together — Space and S go on to the
image that followed in the list *before* the change (a filtered list loses the row), a done
image with undecided proposals is said once, a right-click sets several images at once as one
undo step, and undo / redo show the image they change.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMenu

from app.store import boxes_of, review_queue
from app.ui.box_commands import STATUS_NAMES

STATUS_ACTIONS = {"mark_done": "done", "mark_skipped": "skipped", "mark_in_progress": "in_progress",
                  "mark_new": "new"}
"""Keymap actions that set the shown image's review status."""
ADVANCING = ("done", "skipped")
"""Statuses that end the image's review: setting one goes on to the next image of the list."""


def done_warning(boxes, threshold: float, shown_run: int | None) -> str | None:
    """What to say when marking done would make undecided proposals background (``None``: nothing).

    Only the shown run's proposals count: another run's hidden ones are not the reviewer's to
    decide on this view."""
    proposed = [b for b in boxes if b.state == "proposed"
                and (shown_run is None or b.detection_run_id in (None, shown_run))]
    above = [b for b in proposed if b.score is not None and b.score >= threshold]
    faces = sum(1 for b in boxes if b.state == "accepted")
    if above:
        return (f"Marked done with {len(above)} model proposal{'s' if len(above) > 1 else ''} scored "
                f"≥ {threshold:.2f} still undecided: training treats them as background. "
                "Undo (Ctrl+Z) to go back and decide them.")
    if faces == 0 and proposed:
        return (f"Marked done with no faces while the model proposed {len(proposed)}: the whole image "
                "becomes background for training. Undo (Ctrl+Z) to go back.")
    return None


class ReviewStatusActions:
    """The window's status keys, menus and undo-follows-the-image behaviour (see the module docstring)."""

    def next_unreviewed(self) -> None:
        if self.project is None:
            return
        queue = [q.image_id for q in review_queue(self.project, "unreviewed", statuses=["new", "in_progress"])]
        after = [i for i in queue if i != self.current_image_id]
        if after:
            self.show_image_id(after[0])
        else:
            self.notify("No image is left to review: every image is done or skipped"
                        + (" (but this one)" if queue else "") + ".")

    def mark_done(self) -> None:
        self.set_status("done")

    def set_status(self, status: str, image_id: int | None = None) -> None:
        """Set an image's review status (default: the one shown) as an undo step; done or skipped on
        the shown image go on to the image that followed it in the list before the change."""
        image_id = self.current_image_id if image_id is None else image_id
        if self.project is None or image_id is None:
            return
        shown = image_id == self.current_image_id
        following = self._following(image_id) if shown and status in ADVANCING else None
        warning = self._done_warning(image_id) if status == "done" and shown else None
        selection = self.browser_panel.view.selectionModel()
        blocked = selection.blockSignals(True)  # the row may leave a filtered list: Qt moves the current
        try:
            changed = self.editor.set_status(image_id, status)
        finally:
            selection.blockSignals(blocked)
        self._refresh_counts()
        if shown and status in ADVANCING:
            if following is not None:
                self.browser_panel.select_image(following, notify=False)  # Qt may have moved there already
                self.show_image(following)
            else:
                if not self.browser_panel.select_image(image_id, notify=False):
                    self.show_image_id(image_id)  # keep showing it although the filter no longer lists it
                self.notify("That was the last image in the list." if changed else
                            f"The image is already {STATUS_NAMES[status]}; it is the last in the list.")
        elif shown:
            self.browser_panel.select_image(image_id, notify=False)
        if warning is not None and changed:
            self._warned_done.add(image_id)
            self.notify(warning, "warning", ("Undo", self.undo_stack.undo))

    def _following(self, image_id: int) -> int | None:
        """The image listed after ``image_id`` now (``None``: it is last, or not listed)."""
        row = self.browser_panel.listed_row(image_id)
        if row is None:
            return None
        following = self.browser_panel.summary_at(row + 1)
        return following.id if following is not None else None

    def _done_warning(self, image_id: int) -> str | None:
        """What to say (once per image) when done would make undecided proposals background."""
        if image_id in self._warned_done:
            return None
        # as stored: a detection may have landed since the image was shown
        return done_warning(boxes_of(self.project, image_id), self.scene.confidence_threshold(),
                            self.scene.shown_run())

    def _status_menu(self, where, image_ids: list[int] | None = None) -> None:
        """The review-status menu (views and list): for the shown image, or the images right-clicked."""
        menu = QMenu(self)
        if image_ids is None:
            for name in STATUS_ACTIONS:
                menu.addAction(self.actions[name])
        else:
            for status, label in STATUS_NAMES.items():
                action = menu.addAction(f"Mark {label}")
                action.triggered.connect(lambda _=False, st=status: self._set_status_of(image_ids, st))
        menu.popup(where)
        self._open_menu = menu

    def _on_browser_menu(self, pos) -> None:
        ids = self.browser_panel.selected_ids()
        if ids:
            self._status_menu(self.browser_panel.view.viewport().mapToGlobal(pos), ids)

    def _set_status_of(self, image_ids: list[int], status: str) -> None:
        if len(image_ids) == 1 and image_ids[0] == self.current_image_id:
            self.set_status(status)  # as the key does: done and skipped go on to the next
            return
        self.undo_stack.beginMacro(f"Mark {len(image_ids)} images {STATUS_NAMES[status]}")
        for image_id in image_ids:
            self.editor.set_status(image_id, status)
        self.undo_stack.endMacro()
        self._refresh_counts()

    def _on_undo_index(self, index: int) -> None:
        """Undo and redo show the image they changed (a mistaken Space is undone where it was made)."""
        previous, self._undo_index = self._undo_index, index
        if self._restoring_history or index == previous:
            return
        command = self.undo_stack.command(index if index < previous else index - 1)
        image_id = getattr(command, "image_id", None)
        if image_id is None and command is not None and command.childCount():
            image_id = getattr(command.child(0), "image_id", None)
        if image_id is not None and image_id >= 0 and image_id != self.current_image_id:
            self.show_image_id(image_id)
