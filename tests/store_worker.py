"""Real processes for ``tests/test_store_reliability.py``: each opens the project database itself.

    PYTHONPATH=<repo> python tests/store_worker.py MODE DB [ARGS...]

``DB`` is a SQLite file or a database URL (``Project.open`` takes either). Timed modes print
``ready`` once the project is open, wait for one line on stdin (the parent's "go", so that all
workers start hammering at the same moment), work for ``SECONDS`` and print one JSON line with
what they did. Any exception ends the process with a traceback and a non-zero status.

* ``edit DB SECONDS AUTHOR``: a stream of single-box edits, each its own transaction: create a
  human box, then move one of its own boxes, alternately.
* ``detect DB SECONDS BOXES PAUSE``: record detection runs of ``BOXES`` boxes each (all images),
  sleeping ``PAUSE`` seconds between runs (the time a real job spends computing).
* ``read DB SECONDS BOXES``: ``boxes_of``, ``get_box`` and ``review_queue`` in a loop, and checks
  in one statement that every visible detection run has all of its ``BOXES`` boxes (a run is
  committed whole or not at all).
* ``stream DB``: endless deterministic create/move stream; after each committed edit prints
  ``box_id version x1 y1 x2 y2`` (flushed). The parent SIGKILLs it.
* ``bulk DB BOXES``: prints ``start``, records one run of ``BOXES`` boxes, prints ``done RUN_ID``;
  prints ``insert ROWS`` as each INSERT of box rows is sent to the database.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time

import numpy as np
from sqlalchemy import event, func, select

from app.store import Project, boxes_of, create_box, get_box, move_box, record_detections, review_queue
from app.store.tables import Box, DetectionRun, Image


def stream_xyxy(i: int) -> tuple[float, float, float, float]:
    """The coordinates of the ``i``-th edit of ``stream`` (exact binary fractions, inside 64x48)."""
    x1 = float(i % 40) + 0.25
    y1 = float(i % 30) + 0.5
    return (x1, y1, x1 + 10.0 + (i % 7) * 0.125, y1 + 8.0 + (i % 5) * 0.375)


def stream_op(i: int) -> str:
    """``create`` for every third edit of ``stream``, ``move`` (of the newest box) otherwise."""
    return "create" if i % 3 == 0 else "move"


def detections(image_ids: list[int], sizes: dict[int, tuple[int, int]], total: int, seed: int):
    """``total`` random boxes inside their images, spread over ``image_ids``."""
    rng = np.random.default_rng(seed)
    per = np.full(len(image_ids), total // len(image_ids))
    per[: total % len(image_ids)] += 1
    out = {}
    for image_id, n in zip(image_ids, per):
        w, h = sizes[image_id]
        x1 = rng.uniform(0, w / 2, n)
        y1 = rng.uniform(0, h / 2, n)
        boxes = np.stack([x1, y1, x1 + rng.uniform(1, w / 2 - 1, n), y1 + rng.uniform(1, h / 2 - 1, n)], axis=1)
        out[image_id] = (boxes, rng.uniform(0.01, 0.99, n))
    return out


def _images(project: Project) -> dict[int, tuple[int, int]]:
    with project.read() as s:
        return {r.id: (r.width, r.height) for r in s.execute(select(Image.id, Image.width, Image.height)
                                                               .order_by(Image.id))}


def _ready() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def run_edit(db: str, seconds: float, author: str) -> dict:
    rng = random.Random(author)
    with Project.open(db, author=author) as project:
        sizes = _images(project)
        ids = list(sizes)
        mine: dict[int, list] = {}  # box id -> [version, x1, y1, x2, y2] as last written
        creates = moves = 0
        latencies = []
        _ready()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.monotonic()
            if not mine or creates <= moves:
                image_id = rng.choice(ids)
                w, h = sizes[image_id]
                x1, y1 = rng.randrange(w // 2), rng.randrange(h // 2)
                xyxy = (x1, y1, x1 + rng.randrange(1, w // 2), y1 + rng.randrange(1, h // 2))
                box = create_box(project, image_id, xyxy)
                creates += 1
            else:
                box_id = rng.choice(list(mine))
                version = mine[box_id][0]
                old = mine[box_id][1:]
                dx = rng.choice((-1.0, 1.0)) if old[0] >= 1 else 1.0
                box = move_box(project, box_id, version, (old[0] + dx, old[1], old[2] + dx, old[3]))
                moves += 1
            mine[box.id] = [box.version, *box.xyxy]
            latencies.append(time.monotonic() - start)
    return {"creates": creates, "moves": moves, "boxes": mine,
            "latency_ms": {"median": 1000 * statistics.median(latencies), "max": 1000 * max(latencies)}}


def run_detect(db: str, seconds: float, per_run: int, pause: float) -> dict:
    with Project.open(db, author="detector") as project:
        sizes = _images(project)
        runs: list[int] = []
        _ready()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or not runs:
            results = detections(list(sizes), sizes, per_run, seed=len(runs))
            runs.append(record_detections(project, results, settings={"worker": True}, replace_proposed=False))
            time.sleep(pause)  # a real job computes its next detections in between
    return {"runs": runs, "per_run": per_run}


def run_read(db: str, seconds: float, per_run: int) -> dict:
    rng = random.Random(1)
    with Project.open(db, author="reader") as project:
        ids = list(_images(project))
        reads = checks = runs_seen = 0
        _ready()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            image_id = rng.choice(ids)
            boxes = boxes_of(project, image_id)
            if boxes:
                box = rng.choice(boxes)
                got = get_box(project, box.id)
                assert got.id == box.id and got.version >= box.version, (box, got)
            queue = review_queue(project, rng.choice(("unreviewed", "lowest_confidence", "path")), limit=20)
            assert len(queue) == min(20, len(ids)), len(queue)
            reads += 1
            # one statement, so one snapshot on every database: a visible run has all its boxes
            with project.read() as s:
                counts = s.execute(select(DetectionRun.id, func.count(Box.id))
                                   .outerjoin(Box, Box.detection_run_id == DetectionRun.id)
                                   .group_by(DetectionRun.id)).all()
            bad = [(run_id, n) for run_id, n in counts if n != per_run]
            assert not bad, f"detection runs visible with a partial set of boxes: {bad}"
            runs_seen = max(runs_seen, len(counts))
            checks += 1
    return {"reads": reads, "checks": checks, "runs_seen": runs_seen}


def run_stream(db: str) -> None:
    with Project.open(db, author="streamer") as project:
        image_id = min(_images(project))
        box = None
        i = 0
        while True:
            xyxy = stream_xyxy(i)
            if stream_op(i) == "create":
                box = create_box(project, image_id, xyxy)
            else:
                box = move_box(project, box.id, box.version, xyxy)
            print(f"{box.id} {box.version} {box.x1!r} {box.y1!r} {box.x2!r} {box.y2!r}", flush=True)
            i += 1


def run_bulk(db: str, total: int) -> None:
    with Project.open(db, author="bulk") as project:
        sizes = _images(project)
        results = detections(list(sizes), sizes, total, seed=7)

        @event.listens_for(project.engine, "before_cursor_execute")
        def _announce(conn, cursor, statement, parameters, context, executemany) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO BOX"):
                print(f"insert {len(parameters) if executemany else 1}", flush=True)

        print("start", flush=True)
        run_id = record_detections(project, results, replace_proposed=False)
        print(f"done {run_id}", flush=True)


def main(argv: list[str]) -> None:
    mode, db, *rest = argv
    if mode == "edit":
        print(json.dumps(run_edit(db, float(rest[0]), rest[1])), flush=True)
    elif mode == "detect":
        print(json.dumps(run_detect(db, float(rest[0]), int(rest[1]), float(rest[2]))), flush=True)
    elif mode == "read":
        print(json.dumps(run_read(db, float(rest[0]), int(rest[1]))), flush=True)
    elif mode == "stream":
        run_stream(db)
    elif mode == "bulk":
        run_bulk(db, int(rest[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
