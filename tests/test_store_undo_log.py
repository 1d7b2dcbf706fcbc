"""The edit log as a restarted editor's undo stack: ``undoable_edits`` lists what is still in
effect, each with the row undo must revert next, and reverting through it keeps the log true."""

from __future__ import annotations

from app.store import Project, create_box, import_images, revert_edit, set_review_status, undo_last
from app.store.boxes import write_box
from app.store.history import undoable_edits


def _project(db_url, tmp_path, write_images):
    write_images(tmp_path / "images", ["a.png", "b.png"])
    project = Project.create(db_url, author="ann")
    import_images(project, tmp_path / "images")
    return project


def test_status_edits_and_box_writes_name_their_log_rows(db_url, tmp_path, write_images):
    with _project(db_url, tmp_path, write_images) as p:
        [edit] = set_review_status(p, 1, "done")
        assert set_review_status(p, 1, "done") == []  # already so: nothing logged
        box = create_box(p, 1, (10, 10, 40, 40))
        written = write_box(p, box.id, box.version, x1=12)
        undone = revert_edit(p, written.edit_id)
        assert undone.reverts_id == written.edit_id
        assert revert_edit(p, edit).after == {"status": "new"}


def test_undoable_edits_are_those_in_effect_with_the_head_of_their_chain(db_url, tmp_path, write_images):
    with _project(db_url, tmp_path, write_images) as p:
        box = create_box(p, 2, (10, 10, 40, 40))
        moved = write_box(p, box.id, 1, x1=15)
        [status] = set_review_status(p, 2, "done")
        undo = revert_edit(p, status)           # status undone: not in effect
        create_box(p, 1, (5, 5, 20, 20), author="bob")  # another author's: not ours
        redo = revert_edit(p, moved.edit_id)      # the move undone …
        redo = revert_edit(p, redo.id, action="redo")  # … and redone: in effect, head = the redo
        edits = undoable_edits(p, "ann")
        assert [(e.action, e.entity, e.image_id) for e in edits] == [("create", "box", 2), ("update", "box", 2)]
        assert edits[1].head_id == redo.id and edits[1].head_version == 4
        assert undo.reverts_id == status
        # undoing through the head takes the move back, and the log agrees (undo_last goes on from there)
        revert_edit(p, edits[1].head_id, expected_version=edits[1].head_version)
        assert [e.action for e in undoable_edits(p, "ann")] == ["create"]
        assert undo_last(p, "ann").reverts_id == edits[0].head_id
        assert undoable_edits(p, "ann") == []
