"""Every keyboard shortcut of the review window in one table (the help overlay lists it).

Annotators live on the keyboard: one place to read, change and document the bindings keeps
the menus, the help overlay (?) and the README from disagreeing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    action: str
    """Identifier used by the window (``actions[binding.action]``)."""
    label: str
    keys: tuple[str, ...]
    group: str
    help: str = ""
    by_view: bool = False
    """Handled by the image view's own key events, not a QShortcut (Space: tap = this, hold = pan)."""


KEYMAP: tuple[Binding, ...] = (
    Binding("next_image", "Next image", ("D",), "Navigate"),
    Binding("previous_image", "Previous image", ("A",), "Navigate"),
    Binding("next_unreviewed", "Next unreviewed image", ("Ctrl+D",), "Navigate"),
    Binding("mark_done", "Mark image done and go to the next", ("Space",), "Review",
            "tap; hold Space and drag to pan", by_view=True),
    Binding("mark_skipped", "Mark image skipped and go to the next", ("S",), "Review"),
    Binding("mark_in_progress", "Mark image in progress", ("P",), "Review"),
    Binding("mark_new", "Mark image not reviewed (new)", ("U",), "Review"),
    Binding("draw_mode", "Draw a box", ("W",), "Edit", "then drag on the image; Esc leaves draw mode"),
    Binding("select_mode", "Select / move mode", ("Esc",), "Edit"),
    Binding("delete_box", "Delete selected box", ("Del", "Backspace"), "Edit"),
    Binding("accept_box", "Accept selected model box", ("Y",), "Edit"),
    Binding("reject_box", "Reject selected model box", ("N",), "Edit"),
    Binding("accept_all", "Accept all boxes above the threshold", ("Shift+Y",), "Edit"),
    Binding("next_box", "Select the next box of the list", ("Tab",), "Edit",
            "in the Boxes tab's order (score by default); centred when zoomed in"),
    Binding("previous_box", "Select the previous box of the list", ("Shift+Tab",), "Edit"),
    Binding("nudge_left", "Nudge left 1 px", ("Left",), "Edit"),
    Binding("nudge_left_far", "Nudge left 10 px", ("Shift+Left",), "Edit"),
    Binding("nudge_right", "Nudge right 1 px", ("Right",), "Edit"),
    Binding("nudge_right_far", "Nudge right 10 px", ("Shift+Right",), "Edit"),
    Binding("nudge_up", "Nudge up 1 px", ("Up",), "Edit"),
    Binding("nudge_up_far", "Nudge up 10 px", ("Shift+Up",), "Edit"),
    Binding("nudge_down", "Nudge down 1 px", ("Down",), "Edit"),
    Binding("nudge_down_far", "Nudge down 10 px", ("Shift+Down",), "Edit"),
    Binding("undo", "Undo", ("Ctrl+Z",), "Edit"),
    Binding("redo", "Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Edit"),
    Binding("toggle_boxes", "Hide / show all boxes", ("H",), "View"),
    Binding("toggle_loupe", "Tiny-face loupe", ("L",), "View",
            "a ×6 magnifier in both views; Ctrl+wheel: ×4 / ×6 / ×8; drags are finer while it is on"),
    Binding("fit", "Fit image in view", ("F",), "View"),
    Binding("actual_size", "Actual size (1:1)", ("1",), "View"),
    Binding("zoom_in", "Zoom in", ("+", "="), "View"),
    Binding("zoom_out", "Zoom out", ("-",), "View"),
    Binding("layout_side", "Original and enhanced side by side", ("2",), "View"),
    Binding("layout_single", "Single view (toggle original / enhanced)", ("3",), "View"),
    Binding("layout_split", "Split-slider compare", ("4",), "View"),
    Binding("help", "Show this help", ("?", "F1"), "Help"),
)

def check_unique(keymap=KEYMAP) -> None:
    """Raise if two actions share a key (a shortcut Qt would silently make ambiguous)."""
    seen: dict[str, str] = {}
    for b in keymap:
        for key in b.keys:
            norm = key.lower()
            if norm in seen:
                raise ValueError(f"key {key!r} is bound to both {seen[norm]!r} and {b.action!r}")
            seen[norm] = b.action


def help_rows(keymap=KEYMAP) -> list[tuple[str, str, str]]:
    """``(group, keys, label)`` rows in keymap order, for the help overlay and the docs."""
    return [(b.group, " / ".join(b.keys), b.label + (f" ({b.help})" if b.help else "")) for b in keymap]
