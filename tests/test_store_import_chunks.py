"""Large label imports (issue 20, item 9): committed a chunk of images at a time, so a reviewer's
edit never waits long, yet all or nothing: a failure or a kill midway is rolled back whole, and
a lock held too long is a message, not a traceback. Real SQLite files, real processes, real
SIGKILLs; the ``db_url`` tests run on PostgreSQL too when DFS_TEST_PG_URL is set."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from app.store import (
    Project,
    ProjectBusyError,
    boxes_of,
    create_box,
    import_images,
    import_labels,
    move_box,
    set_box_state,
)
from app.store import labels as labels_module
from app.store.labels import recover_interrupted_imports
from app.store.tables import Box, Image, LabelImport, LabelImportUndo
from srn.formats import wider
from srn.imageio import write_image

REPO = Path(__file__).resolve().parents[1]


def _images(folder: Path, n: int) -> None:
    for i in range(n):
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[i % 48, (i // 48) % 64] = (255, i % 256, 9)
        write_image(folder / f"{i:04d}.png", rgb)


def _gt(path: Path, n_images: int, per_image: int, shift: float = 0.0) -> Path:
    rng = np.random.default_rng(int(shift * 10) + per_image)
    records = []
    for i in range(n_images):
        xy = rng.uniform(0, 40, (per_image, 2)).round(1) + shift
        wh = rng.uniform(3, 20, (per_image, 2)).round(1)
        records.append(wider.WiderRecord(f"{i:04d}.png", np.hstack([xy, np.minimum(wh, 60 - xy)]),
                                         np.zeros((per_image, 6), np.int64)))
    return wider.write_gt(path, records)


def _state(project: Project) -> tuple[list, dict]:
    """Every box (without ids and times) and every image's status: what a person would see."""
    with project.read() as s:
        boxes = sorted(s.execute(select(Box.image_id, Box.x1, Box.y1, Box.x2, Box.y2, Box.source, Box.state,
                                        Box.version, Box.author)).all())
        statuses = dict(s.execute(select(Image.id, Image.status)).all())
    return [tuple(b) for b in boxes], statuses


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(labels_module, "CHUNK_BOXES", 7)  # a few images per chunk
    monkeypatch.setattr(labels_module, "PAUSE_S", 0.0)


@pytest.fixture
def project(db_url, tmp_path):
    _images(tmp_path / "images", 12)
    p = Project.create(db_url)
    import_images(p, tmp_path / "images")
    yield p
    p.close()


def _ids(project: Project) -> dict[str, int]:
    with project.read() as s:
        return {r.rel_path: r.id for r in s.execute(select(Image.id, Image.rel_path))}


def test_a_chunked_import_keeps_every_rule_of_a_single_one(project, tmp_path, small_chunks):
    first = import_labels(project, _gt(tmp_path / "a.txt", 12, 3), "wider")
    assert (first.images, first.boxes) == (12, 36)
    ids = _ids(project)
    boxes = boxes_of(project, ids["0005.png"])
    moved = move_box(project, boxes[0].id, boxes[0].version, (1.0, 1.0, 30.0, 30.0))
    set_box_state(project, boxes[1].id, boxes[1].version, "rejected")

    again = import_labels(project, tmp_path / "a.txt", "wider")
    assert (again.images, again.kept_edited, again.replaced) == (12, 2, 34)
    after = boxes_of(project, ids["0005.png"])
    assert len(after) == 3 and {b.state for b in after} == {"accepted", "rejected"}
    assert any(b.id == moved.id and b.xyxy == (1.0, 1.0, 30.0, 30.0) for b in after)
    with project.read() as s:
        assert s.scalar(select(func.count()).select_from(Box)) == 36
        assert set(s.scalars(select(Image.status))) == {"done"}
        assert [j.state for j in s.scalars(select(LabelImport).order_by(LabelImport.id))] == ["done", "done"]
        assert s.scalar(select(func.count()).select_from(LabelImportUndo)) == 0


def test_a_failure_midway_rolls_every_chunk_back(project, tmp_path, small_chunks, monkeypatch):
    import_labels(project, _gt(tmp_path / "a.txt", 6, 3), "wider")  # images 0..5 done, 6..11 new
    ids = _ids(project)
    human = create_box(project, ids["0008.png"], (2.0, 2.0, 9.0, 9.0))
    before = _state(project)

    real, calls = labels_module._import_chunk, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(labels_module, "_import_chunk", failing)
    with pytest.raises(OSError, match="No space left"):
        import_labels(project, _gt(tmp_path / "b.txt", 12, 2, shift=5.0), "wider")
    assert len(calls) == 4  # three chunks were committed before the failure
    assert _state(project) == before
    assert [b.id for b in boxes_of(project, ids["0008.png"])] == [human.id]
    with project.read() as s:
        assert [j.state for j in s.scalars(select(LabelImport).order_by(LabelImport.id))] == ["done", "rolled_back"]
        assert s.scalar(select(func.count()).select_from(LabelImportUndo)) == 0


IMPORTER = """
import sys, time
from app.store import Project, import_labels
from app.store import labels
labels.CHUNK_BOXES, labels.PAUSE_S = 4, 0.0
real = labels._import_chunk
def announced(*args, **kwargs):
    real(*args, **kwargs)
    print("chunk", flush=True)
    time.sleep(0.2)
labels._import_chunk = announced
with Project.open(sys.argv[1]) as project:
    import_labels(project, sys.argv[2], "wider")
print("done", flush=True)
"""


def test_an_import_killed_midway_is_rolled_back_by_the_next_open(tmp_path, monkeypatch):
    _images(tmp_path / "images", 12)
    db = tmp_path / "p.db"
    with Project.create(db) as project:
        import_images(project, tmp_path / "images")
        import_labels(project, _gt(tmp_path / "a.txt", 12, 2), "wider")
        before = _state(project)
    proc = subprocess.Popen([sys.executable, "-c", IMPORTER, str(db), str(_gt(tmp_path / "b.txt", 12, 4, 3.0))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout.readline().strip() == "chunk"
    assert proc.stdout.readline().strip() == "chunk"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)

    with Project.open(db) as project:  # a heartbeat this fresh may be a live import: left alone
        half = _state(project)
        assert half != before
        with project.read() as s:
            assert s.scalar(select(LabelImport.state).order_by(LabelImport.id.desc()).limit(1)) == "running"
    monkeypatch.setattr(labels_module, "STALE_AFTER_S", 0.0)
    with Project.open(db) as project:  # the default: a stopped heartbeat is rolled back on open
        assert _state(project) == before
        with project.read() as s:
            assert s.scalar(select(LabelImport.state).order_by(LabelImport.id.desc()).limit(1)) == "rolled_back"
            assert s.scalar(select(func.count()).select_from(LabelImportUndo)) == 0
        assert recover_interrupted_imports(project, stale_after_s=0) == []


def test_a_write_lock_held_too_long_is_a_message_naming_the_project(tmp_path):
    _images(tmp_path / "images", 1)
    db = tmp_path / "p.db"
    with Project.create(db) as project:
        import_images(project, tmp_path / "images")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program, mid-write
    try:
        with Project.open(db, busy_timeout_ms=300) as project:
            with pytest.raises(ProjectBusyError) as raised:
                create_box(project, 1, (1.0, 1.0, 5.0, 5.0))
            assert str(db) in str(raised.value) and "nothing was saved" in str(raised.value)
            holder.execute("ROLLBACK")
            assert create_box(project, 1, (1.0, 1.0, 5.0, 5.0)).id  # and it works once the lock is free
    finally:
        holder.close()


@pytest.mark.slow
def test_a_reviewer_keeps_editing_while_a_large_import_runs(tmp_path):
    """300,000 boxes (one transaction of them holds the lock for many seconds); the reviewer's
    edits, allowed to wait at most 2 s each, all go through while the import commits."""
    _images(tmp_path / "images", 300)
    db = tmp_path / "p.db"
    with Project.create(db) as project:
        import_images(project, tmp_path / "images")
    big = _gt(tmp_path / "big.txt", 300, 1000)
    runner = ("import sys\nfrom app.store import Project, import_labels\n"
              "with Project.open(sys.argv[1]) as p:\n    print(import_labels(p, sys.argv[2], 'wider').boxes)")
    proc = subprocess.Popen([sys.executable, "-c", runner, str(db), str(big)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    edits, failures = 0, []
    with Project.open(db, busy_timeout_ms=2_000, author="reviewer") as project:
        box = create_box(project, 1, (1.0, 1.0, 5.0, 5.0))
        while proc.poll() is None:
            try:
                box = move_box(project, box.id, box.version, (1.0, 1.0, 5.0 + edits % 3, 5.0))
                edits += 1
            except ProjectBusyError as exc:
                failures.append(str(exc))
            time.sleep(0.05)
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "300000"
    assert edits > 20 and not failures, failures[:1]
    with Project.open(db) as project:
        with project.read() as s:
            assert s.scalar(select(func.count()).select_from(Box).where(Box.source == "imported")) == 300_000
