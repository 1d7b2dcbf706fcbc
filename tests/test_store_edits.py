"""Box edits through the store: one transaction and one log row each, version checks, undo/redo."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from app.store import (
    ConflictError,
    Project,
    StoreError,
    boxes_of,
    create_box,
    delete_box,
    get_box,
    history,
    import_images,
    move_box,
    record_detections,
    redo_last,
    set_box_state,
    set_review_status,
    set_state_by_score,
    undo_last,
    update_box,
)
from app.store.tables import Edit, Image


@pytest.fixture
def project(db_url, tmp_path, write_images):
    write_images(tmp_path / "images", ["a.png", "b.png", "sub/c.png"])
    with Project.create(db_url, author="ann") as p:
        import_images(p, tmp_path / "images")
        yield p


def image_id(project, rel: str) -> int:
    with project.read() as s:
        return s.scalar(select(Image.id).where(Image.rel_path == rel))


def edit_count(project) -> int:
    with project.read() as s:
        return s.scalar(select(func.count()).select_from(Edit))


def test_draw_move_resize_delete_each_committed_and_logged(project):
    a = image_id(project, "a.png")
    box = create_box(project, a, (10, 20, 39, 59))
    assert (box.source, box.state, box.version, box.author) == ("human", "accepted", 1, "ann")
    moved = move_box(project, box.id, box.version, (15, 25, 44, 64))
    resized = update_box(project, box.id, moved.version, x2=60.0, y2=80.0)
    assert resized.xyxy == (15, 25, 60, 80) and resized.version == 3
    gone = delete_box(project, box.id, resized.version)
    assert gone.state == "deleted"
    assert boxes_of(project, a) == []  # deleted boxes are hidden by default...
    assert [b.id for b in boxes_of(project, a, states=None)] == [box.id]  # ...but kept
    log = history(project, "box", box.id)
    assert [e.action for e in log] == ["delete", "update", "update", "create"]
    assert log[2].before == {"x1": 10.0, "y1": 20.0, "x2": 39.0, "y2": 59.0, "version": 1}
    assert log[2].after == {"x1": 15.0, "y1": 25.0, "x2": 44.0, "y2": 64.0, "version": 2}
    # a second Project on the same database sees everything: nothing waits for a save
    with Project.open(project.url if not project.is_sqlite else project.path) as other:
        assert get_box(other, box.id).state == "deleted"


def test_stale_version_is_a_conflict_not_a_lost_update(project):
    a = image_id(project, "a.png")
    box = create_box(project, a, (10, 10, 20, 20))
    mine = move_box(project, box.id, box.version, (11, 11, 21, 21), author="ann")
    with pytest.raises(ConflictError,
                       match=r"box \d+ was changed by ann since you read it \(your version 1, now 2\)") as err:
        move_box(project, box.id, box.version, (50, 50, 60, 60), author="bob")
    assert err.value.current == mine
    assert get_box(project, box.id).xyxy == (11, 11, 21, 21)
    assert [e.action for e in history(project, "box", box.id)] == ["update", "create"]


def test_invalid_edits_are_refused_and_change_nothing(project):
    a = image_id(project, "a.png")  # 160x120
    with pytest.raises(StoreError, match="leaves the 160x120 image a.png"):
        create_box(project, a, (150, 10, 160, 20))
    with pytest.raises(StoreError, match="x1 <= x2"):
        create_box(project, a, (30, 10, 20, 20))
    box = create_box(project, a, (10, 10, 20, 20))
    before = edit_count(project)
    with pytest.raises(StoreError, match="finite"):
        update_box(project, box.id, 1, x1=float("nan"))
    with pytest.raises(StoreError, match="state must be one of"):
        update_box(project, box.id, 1, state="maybe")
    with pytest.raises(StoreError, match="cannot be edited"):
        update_box(project, box.id, 1, score=0.3)
    with pytest.raises(StoreError, match="non-negative integer"):
        update_box(project, box.id, 1, occlusion=-1)
    assert get_box(project, box.id).version == 1 and edit_count(project) == before


def test_attributes_and_ignore_are_edits_too(project):
    a = image_id(project, "a.png")
    box = create_box(project, a, (10, 10, 20, 20), attributes={"blur": 2})
    changed = update_box(project, box.id, box.version, occlusion=1, ignore=True)
    assert (changed.blur, changed.occlusion, changed.ignore, changed.invalid) == (2, 1, True, 1)  # kept in step
    undo_last(project)
    back = get_box(project, box.id)
    assert (back.occlusion, back.ignore, back.invalid) == (0, False, 0)
    assert update_box(project, box.id, back.version, invalid=1).ignore is True


def test_undo_redo_chain_survives_a_restart(project, db_url):
    a = image_id(project, "a.png")
    box = create_box(project, a, (10, 10, 20, 20))
    move_box(project, box.id, 1, (12, 12, 22, 22))
    set_box_state(project, box.id, 2, "rejected")
    project.close()

    with Project.open(db_url, author="ann") as p:  # a new session of the app
        assert get_box(p, box.id).state == "rejected"
        assert undo_last(p).action == "undo" and get_box(p, box.id).state == "accepted"
        undo_last(p)
        assert get_box(p, box.id).xyxy == (10, 10, 20, 20)
        undo_last(p)
        assert get_box(p, box.id).state == "deleted"  # undoing a draw removes the box
        assert undo_last(p) is None or get_box(p, box.id).state == "deleted"
    with Project.open(db_url, author="ann") as p:
        redo_last(p)
        assert get_box(p, box.id).state == "accepted"
        redo_last(p)
        assert get_box(p, box.id).xyxy == (12, 12, 22, 22)
        undo_last(p)  # undoing a redo goes back again
        assert get_box(p, box.id).xyxy == (10, 10, 20, 20)
        redo_last(p)
        redo_last(p)
        b = get_box(p, box.id)
        assert (b.xyxy, b.state) == ((12, 12, 22, 22), "rejected")
        assert redo_last(p) is None


def test_a_new_edit_clears_redo_and_undo_is_per_author(project):
    a = image_id(project, "a.png")
    box = create_box(project, a, (10, 10, 20, 20), author="ann")
    move_box(project, box.id, 1, (12, 12, 22, 22), author="ann")
    other = create_box(project, a, (40, 40, 50, 50), author="bob")
    undo_last(project, author="ann")
    assert get_box(project, box.id).xyxy == (10, 10, 20, 20)
    assert get_box(project, other.id).state == "accepted"  # bob's box is not ann's to undo
    move_box(project, box.id, get_box(project, box.id).version, (30, 30, 40, 40), author="ann")
    assert redo_last(project, author="ann") is None
    assert get_box(project, box.id).xyxy == (30, 30, 40, 40)


def test_undo_refuses_when_someone_else_changed_the_box(project):
    a = image_id(project, "a.png")
    box = create_box(project, a, (10, 10, 20, 20), author="ann")
    moved = move_box(project, box.id, 1, (12, 12, 22, 22), author="ann")
    move_box(project, box.id, moved.version, (30, 30, 40, 40), author="bob")
    with pytest.raises(ConflictError, match="changed after edit"):
        undo_last(project, author="ann")
    assert get_box(project, box.id).xyxy == (30, 30, 40, 40)


def test_accept_all_above_threshold_is_one_undoable_edit(project):
    a, b = image_id(project, "a.png"), image_id(project, "b.png")
    record_detections(project, {a: (np.array([[1, 1, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]]),
                                    np.array([0.9, 0.6, 0.2])),
                                b: (np.array([[5, 5, 15, 15]]), np.array([0.55]))})
    before = edit_count(project)
    assert set_state_by_score(project, "accepted", above=0.5) == 3
    assert set_state_by_score(project, "rejected", below=0.5) == 1
    assert edit_count(project) == before + 2
    states = sorted((x.score, x.state) for x in boxes_of(project, a) + boxes_of(project, b))
    assert states == [(0.2, "rejected"), (0.55, "accepted"), (0.6, "accepted"), (0.9, "accepted")]
    undo_last(project)
    undo_last(project)
    assert {x.state for x in boxes_of(project, a) + boxes_of(project, b)} == {"proposed"}
    redo_last(project)
    assert sorted(x.state for x in boxes_of(project, a) + boxes_of(project, b)) == ["accepted"] * 3 + ["proposed"]
    assert set_state_by_score(project, "accepted", above=0.99) == 0
    with pytest.raises(StoreError, match="exactly one"):
        set_state_by_score(project, "accepted", above=0.5, below=0.2)


def test_review_status_edits_are_logged_and_undoable(project):
    a = image_id(project, "a.png")
    set_review_status(project, a, "done")
    with project.read() as s:
        assert s.get(Image, a).status == "done"
    undo_last(project)
    with project.read() as s:
        assert s.get(Image, a).status == "new"
    with pytest.raises(StoreError, match="review status must be one of"):
        set_review_status(project, a, "finished")
