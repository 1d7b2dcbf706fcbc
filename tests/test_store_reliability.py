"""The annotation store under stress: concurrent processes, kill -9, racing annotators, bad input.

Everything here is real: real subprocesses (``tests/store_worker.py``) on one project database,
real SIGKILLs, real threads, real files. Each test runs on SQLite and, when DFS_TEST_PG_URL is set
(``.ci/with_postgres.sh``), on PostgreSQL too (the ``db_url`` fixture).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text

from app.store import (
    ConflictError,
    OutsideRootsError,
    Project,
    add_image,
    boxes_of,
    create_box,
    get_box,
    history,
    import_images,
    import_labels,
    move_box,
)
from app.store.tables import Box, DetectionRun, Edit, Image, ImportProblem
from srn.formats.errors import FormatError
from srn.imageio import write_image

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("store_worker.py")
sys.path.insert(0, str(WORKER.parent))
import store_worker  # noqa: E402

# -- helpers ------------------------------------------------------------------------------------

def make_images(folder: Path, count: int, size: tuple[int, int] = (64, 48), ext: str = ".png") -> list[Path]:
    """``count`` small images with different content (the import skips duplicates by hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    paths = []
    for i in range(count):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[i % h, (i // h) % w] = (255, i % 256, 7)
        paths.append(write_image(folder / f"img_{i:04d}{ext}", rgb))
    return paths


def project_with_images(db_url: str, tmp_path: Path, count: int, author: str = "setup") -> Project:
    project = Project.create(db_url, author=author)
    make_images(tmp_path / "images", count)
    report = import_images(project, tmp_path / "images")
    assert report.added == count and not report.problems
    return project


def worker(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def expect_line(proc: subprocess.Popen, expected: str) -> None:
    line = proc.stdout.readline()
    if line.strip() != expected:
        proc.kill()
        raise AssertionError(f"worker {proc.args[2:]} said {line!r} instead of {expected!r}:\n{proc.stderr.read()}")


def finish(proc: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker {proc.args[2:]} failed (status {proc.returncode}):\n{err}"
    assert "database is locked" not in err
    return json.loads(out.strip().splitlines()[-1])


def pragma(project: Project, name: str):
    with project.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def integrity(project: Project) -> None:
    if project.is_sqlite:
        assert pragma(project, "integrity_check") == "ok"
        with project.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


# -- SQLite settings ------------------------------------------------------------------------------

def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path):
    db = tmp_path / "p.dfs.db"
    Project.create(db).close()
    with Project.open(db) as project:  # a reopened project, on a fresh connection
        assert pragma(project, "journal_mode") == "wal"
        assert pragma(project, "foreign_keys") == 1
        assert pragma(project, "busy_timeout") == 30_000
        assert pragma(project, "synchronous") == 2  # FULL: a commit survives a power cut
        with project.engine.connect() as conn:  # and the foreign keys are really enforced
            with pytest.raises(Exception, match="FOREIGN KEY"):
                conn.execute(Box.__table__.insert(), {"image_id": 12345, "x1": 0, "y1": 0, "x2": 1, "y2": 1,
                                                      "source": "human", "state": "accepted", "version": 1})
    assert (tmp_path / "p.dfs.db-wal").exists() or (tmp_path / "p.dfs.db").stat().st_size > 0


# -- concurrent processes -----------------------------------------------------------------------------

def test_app_and_training_job_read_and_write_at_the_same_time(db_url, tmp_path):
    """An annotator's edit stream, a detector's bulk runs and a reader, all at once, no lock errors."""
    seconds, per_run, pause = 2.5, 3000, 0.02
    with project_with_images(db_url, tmp_path, 24):
        pass
    procs = [worker("edit", db_url, seconds, "annotator"), worker("detect", db_url, seconds, per_run, pause),
             worker("read", db_url, seconds, per_run)]
    for proc in procs:
        expect_line(proc, "ready")
    for proc in procs:  # go
        proc.stdin.write("go\n")
        proc.stdin.flush()
    edits, runs, reads = (finish(p) for p in procs)

    # everyone got work done (loose: the counts below are the real check). One run, not two: against
    # an unbroken stream of one-edit transactions, SQLite's busy handler can leave the bulk writer
    # waiting for seconds (seen once in CI on an idle 2-core machine: 1 run in 2.5 s)
    assert edits["creates"] >= 5 and edits["moves"] >= 5, edits
    assert len(runs["runs"]) >= 1, runs
    assert reads["reads"] > 5 and reads["checks"] == reads["reads"], reads
    with Project.open(db_url) as project:
        integrity(project)
        with project.read() as s:
            human = {b.id: [b.version, b.x1, b.y1, b.x2, b.y2]
                     for b in s.scalars(select(Box).where(Box.source == "human"))}
            model = s.scalar(select(func.count()).select_from(Box).where(Box.source == "model"))
            per_run = dict(s.execute(select(Box.detection_run_id, func.count()).where(Box.source == "model")
                                     .group_by(Box.detection_run_id)).all())
            run_ids = list(s.scalars(select(DetectionRun.id).order_by(DetectionRun.id)))
            actions = dict(s.execute(select(Edit.action, func.count()).where(Edit.entity == "box")
                                     .group_by(Edit.action)).all())
        # every reported edit is in the store with exactly the reported values, nothing more
        assert human == {int(k): v for k, v in edits["boxes"].items()}
        assert len(human) == edits["creates"]
        assert actions == {"create": edits["creates"], "update": edits["moves"]}
        assert run_ids == runs["runs"]
        assert per_run == {r: runs["per_run"] for r in runs["runs"]}
        assert model == len(runs["runs"]) * runs["per_run"]


# -- kill -9 --------------------------------------------------------------------------------------------

def _parse(lines: list[str]) -> list[tuple[int, int, tuple[float, ...]]]:
    out = []
    for line in lines:
        if not line.endswith("\n"):
            break  # a line cut by the kill is not a report
        box_id, version, *xyxy = line.split()
        out.append((int(box_id), int(version), tuple(float(v) for v in xyxy)))
    return out


def test_kill_9_in_a_stream_of_edits_loses_nothing_reported(db_url, tmp_path):
    with project_with_images(db_url, tmp_path, 2):
        pass
    proc = worker("stream", db_url)
    lines = []
    while len(lines) < 150:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            raise AssertionError(f"the streaming worker ended early:\n{proc.stderr.read()}")
        lines.append(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    lines += proc.stdout.readlines()  # what it reported before it died
    proc.stdout.close()
    proc.stderr.close()
    proc.stdin.close()
    reported = _parse(lines)
    n = len(reported)
    assert n >= 150

    # the stream is deterministic: reported edit i is stream_xyxy(i) on a known box and version
    for i, (_, version, xyxy) in enumerate(reported):
        assert xyxy == store_worker.stream_xyxy(i)
        assert version == (1 if store_worker.stream_op(i) == "create" else reported[i - 1][1] + 1)

    with Project.open(db_url, author="after") as project:
        integrity(project)
        with project.read() as s:
            boxes = {b.id: b for b in s.scalars(select(Box))}
            edits = list(s.scalars(select(Edit).where(Edit.entity == "box").order_by(Edit.id)))
        # every reported edit is in the log with exactly its values, in order
        for i, (box_id, version, xyxy) in enumerate(reported):
            e = edits[i]
            assert (e.entity_id, e.after["version"]) == (box_id, version)
            assert tuple(e.after[k] for k in ("x1", "y1", "x2", "y2")) == xyxy
            assert e.action == ("create" if store_worker.stream_op(i) == "create" else "update")
        # at most one edit committed after the last report (killed between commit and print)
        assert len(edits) in (n, n + 1)
        last = {}
        for box_id, version, xyxy in reported:
            last[box_id] = (version, xyxy)
        if len(edits) == n + 1:
            extra = edits[n]
            expected = store_worker.stream_xyxy(n)
            assert tuple(extra.after[k] for k in ("x1", "y1", "x2", "y2")) == expected
            last[extra.entity_id] = (extra.after["version"], expected)
        assert set(boxes) == set(last)
        for box_id, (version, xyxy) in last.items():
            b = boxes[box_id]
            assert (b.version, (b.x1, b.y1, b.x2, b.y2)) == (version, xyxy), box_id

        # the project takes new edits
        newest = max(last)
        moved = move_box(project, newest, last[newest][0], (1, 2, 3, 4))
        assert moved.version == last[newest][0] + 1
        created = create_box(project, boxes[newest].image_id, (5, 6, 7, 8))
        assert get_box(project, created.id).xyxy == (5, 6, 7, 8)
        assert get_box(project, newest).xyxy == (1, 2, 3, 4)
        integrity(project)


def _wait_for_box_rows_on_the_way(proc: subprocess.Popen, db_url: str, total: int) -> None:
    """Return once the worker is sending box rows inside its open transaction."""
    if "://" not in db_url:  # SQLite: the worker announces each INSERT of box rows (engine event)
        for _ in range(2):  # a first batch sent, the second on its way
            line = proc.stdout.readline()
            assert line.startswith("insert "), (f"expected record_detections to insert {total} boxes in several "
                                                f"batches, got {line!r}", proc.stderr.read() if not line else "")
        return
    from sqlalchemy import create_engine  # PostgreSQL: the server shows the INSERT or COPY running

    engine = create_engine(db_url)
    try:
        deadline = time.monotonic() + 60
        with engine.connect() as conn:
            while time.monotonic() < deadline and proc.poll() is None:
                active = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state = 'active' "
                    "AND (query ILIKE 'COPY box%' OR query ILIKE 'INSERT INTO box%')")).scalar()
                conn.rollback()
                if active:
                    return
                time.sleep(0.005)
        raise AssertionError(f"never saw the worker insert boxes:\n{proc.stderr.read()}")
    finally:
        engine.dispose()


def test_kill_9_during_a_bulk_detection_run_leaves_all_or_nothing(db_url, tmp_path):
    total = 150_000
    with project_with_images(db_url, tmp_path, 10):
        pass
    proc = worker("bulk", db_url, total)
    expect_line(proc, "start")
    _wait_for_box_rows_on_the_way(proc, db_url, total)
    time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and "done" not in out
    with Project.open(db_url) as project:
        integrity(project)
        with project.read() as s:
            runs = s.scalar(select(func.count()).select_from(DetectionRun))
            boxes = s.scalar(select(func.count()).select_from(Box))
        assert (runs, boxes) == (0, 0)  # the run was never committed: none of its rows are there
        assert create_box(project, 1, (0, 0, 3, 3)).version == 1


# -- two annotators ---------------------------------------------------------------------------------

def test_two_annotators_move_the_same_box(db_url, tmp_path):
    with project_with_images(db_url, tmp_path, 1, author="setup") as setup:
        box = create_box(setup, 1, (10, 10, 20, 20))
    alice, bob = Project.open(db_url, author="alice"), Project.open(db_url, author="bob")
    try:
        seen_a, seen_b = get_box(alice, box.id), get_box(bob, box.id)
        assert seen_a.version == seen_b.version == 1
        moved = move_box(alice, box.id, seen_a.version, (11, 12, 21, 22))
        with pytest.raises(ConflictError) as info:
            move_box(bob, box.id, seen_b.version, (30, 30, 40, 40))
        message = str(info.value)
        assert f"box {box.id} was changed by alice since you read it" in message
        assert "your version 1, now 2" in message and "reload" in message
        current = info.value.current
        assert (current.xyxy, current.version, current.author) == ((11, 12, 21, 22), 2, "alice")
        assert get_box(bob, box.id) == moved == current
        log = history(bob, "box", box.id)
        assert [(e.action, e.author) for e in log] == [("update", "alice"), ("create", "setup")]
        assert log[0].after == {"x1": 11.0, "y1": 12.0, "x2": 21.0, "y2": 22.0, "version": 2}
    finally:
        alice.close()
        bob.close()


def test_two_threads_racing_on_one_box_exactly_one_wins(db_url, tmp_path):
    rounds = 12
    with project_with_images(db_url, tmp_path, 1) as setup:
        ids = [create_box(setup, 1, (10, 10, 20, 20)).id for _ in range(rounds)]
    annotators = {name: Project.open(db_url, author=name) for name in ("alice", "bob")}
    target = {"alice": (1.0, 1.0, 5.0, 5.0), "bob": (30.0, 30.0, 40.0, 40.0)}
    try:
        for box_id in ids:
            barrier = threading.Barrier(2)
            outcome: dict[str, object] = {}

            def edit(name: str, box_id=box_id, barrier=barrier, outcome=outcome) -> None:
                project = annotators[name]
                version = get_box(project, box_id).version
                barrier.wait()
                try:
                    outcome[name] = move_box(project, box_id, version, target[name])
                except ConflictError as exc:
                    outcome[name] = exc

            threads = [threading.Thread(target=edit, args=(name,)) for name in annotators]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            winners = [n for n, r in outcome.items() if not isinstance(r, Exception)]
            losers = [n for n, r in outcome.items() if isinstance(r, ConflictError)]
            assert len(winners) == 1 and len(losers) == 1, outcome
            winner, loser = winners[0], losers[0]
            final = get_box(annotators[loser], box_id)
            assert (final.xyxy, final.version, final.author) == (target[winner], 2, winner)
            assert outcome[loser].current == final
            log = history(annotators[loser], "box", box_id)
            assert [(e.action, e.author) for e in log] == [("update", winner), ("create", "setup")]
    finally:
        for p in annotators.values():
            p.close()


# -- bad input ----------------------------------------------------------------------------------------

def test_label_file_with_a_malformed_line_imports_nothing_and_names_file_and_line(db_url, tmp_path):
    with project_with_images(db_url, tmp_path, 3) as project:
        gt = tmp_path / "labels" / "wider_face_train_bbx_gt.txt"
        gt.parent.mkdir()
        gt.write_text("img_0000.png\n1\n1 2 10 10 0 0 0 0 0 0 \n"
                      "img_0001.png\n2\n3 4 10 10 0 0 0 0 0 0 \n5 6 x 10 0 0 0 0 0 0 \n"  # line 7: not a number
                      "img_0002.png\n1\n7 8 10 10 0 0 0 0 0 0 \n", encoding="utf-8")
        with pytest.raises(FormatError) as info:
            import_labels(project, gt, "wider")
        assert f"{gt}:7:" in str(info.value)
        assert info.value.line == 7
        with project.read() as s:
            assert s.scalar(select(func.count()).select_from(Box)) == 0
            assert s.scalar(select(func.count()).select_from(Edit).where(Edit.action == "import_labels")) == 0
            assert set(s.scalars(select(Image.status))) == {"new"}
        # and the fixed file goes in whole
        gt.write_text(gt.read_text().replace("5 6 x 10", "5 6 10 10"), encoding="utf-8")
        report = import_labels(project, gt, "wider")
        assert (report.images, report.boxes) == (3, 4)


def test_image_paths_outside_the_roots_are_refused(db_url, tmp_path):
    outside = make_images(tmp_path / "elsewhere", 1)[0]
    sibling = make_images(tmp_path / "images2", 1)[0]  # shares a name prefix with the root
    with project_with_images(db_url, tmp_path, 1) as project:
        root = tmp_path / "images"
        climbing = root / ".." / "elsewhere" / outside.name
        link = root / "link.png"
        link.symlink_to(outside)
        for path in (outside, sibling, climbing, link):
            with pytest.raises(OutsideRootsError, match="not inside any of the project's image roots"):
                project.locate(path)
            with pytest.raises(OutsideRootsError):
                add_image(project, path)
        with project.read() as s:
            assert s.scalar(select(func.count()).select_from(Image)) == 1
        with pytest.raises(OutsideRootsError):
            project.image_path(project.roots()[0][0], "../elsewhere/" + outside.name)
        # inside is fine
        inside = make_images(root / "sub", 1)[0]
        assert project.locate(inside)[1] == "sub/img_0000.png"
        assert add_image(project, inside) > 1


def test_corrupt_images_are_recorded_and_the_rest_import(db_url, tmp_path):
    folder = tmp_path / "images"
    good = make_images(folder, 5)
    make_images(folder / "sub", 2, ext=".jpg")
    (folder / "garbage.jpg").write_bytes(b"this is not an image at all" * 10)
    (folder / "empty.png").write_bytes(b"")
    (folder / "sub" / "header_only.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")  # cut before its size
    (folder / "notes.txt").write_text("not an image extension, not looked at")
    with Project.create(db_url) as project:
        report = import_images(project, folder)
        bad = {"garbage.jpg", "empty.png", "sub/header_only.jpg"}
        assert report.found == len(good) + 2 + 3
        assert report.added == len(good) + 2
        assert {rel for rel, _ in report.problems} == bad
        assert all(reason for _, reason in report.problems)
        with project.read() as s:
            problems = {r.rel_path: r.reason for r in s.scalars(select(ImportProblem))}
            images = set(s.scalars(select(Image.rel_path)))
        assert problems == dict(report.problems)
        assert images == {p.name for p in good} | {"sub/img_0000.jpg", "sub/img_0001.jpg"}
        assert "empty" in problems["empty.png"]
        assert boxes_of(project, 1) == []


def test_truncated_images_are_recorded_as_problems(tmp_path):
    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for ext in (".jpg", ".png"):
        full = write_image(folder / f"full{ext}", rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        data = full.read_bytes()
        (folder / f"cut{ext}").write_bytes(data[: len(data) // 2])  # size header intact, pixels cut
    with Project.create(tmp_path / "p.dfs.db") as project:
        report = import_images(project, folder)
        assert {rel for rel, _ in report.problems} == {"cut.jpg", "cut.png"}
        assert report.added == 2


def test_two_imports_of_one_folder_at_once_both_finish(db_url, tmp_path):
    folder = tmp_path / "images"
    make_images(folder, 30)
    with Project.create(db_url) as setup:
        setup.add_root(folder)
    first, second = Project.open(db_url, author="app"), Project.open(db_url, author="cli")
    first_ready, second_done = threading.Event(), threading.Event()
    reports, errors = {}, []

    def wait_for_second(i, n, rel):
        if i == 0:
            first_ready.set()
            second_done.wait(30)

    def run(name, project, progress=None):
        try:
            reports[name] = import_images(project, folder, progress=progress)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            if name == "second":
                second_done.set()

    # the first import has read what the project holds and waits while the second one runs whole
    hold = threading.Thread(target=run, args=("first", first, wait_for_second))
    try:
        hold.start()
        assert first_ready.wait(30)
        run("second", second)
        hold.join(60)
        assert not errors, errors
        assert reports["first"].added + reports["second"].added == 30
        assert reports["first"].already == 30 - reports["first"].added  # the rest: added meanwhile
        with first.read() as s:
            assert s.scalar(select(func.count()).select_from(Image)) == 30
    finally:
        first.close()
        second.close()
