"""How long a reviewer's edit waits while a large label import runs (issue 20, item 9).

    PYTHONPATH=. python benchmarks/import_lock_bench.py [--boxes 1000000] [--images 1000]
                                                        [--compare-boxes 200000]

A new SQLite project with ``--images`` images gets a WIDER FACE file of ``--boxes`` boxes
imported by a separate process (``darkface-studio project import-labels``, as a user runs it)
while this process plays the reviewer: it moves one box, waits 50 ms, moves it again, for as
long as the import runs, each move its own transaction, timing each one. Printed: the import's
wall time, the number of edits and their median / 99th percentile / longest wait, and the
longest wait over the target of 1 s (< 1 meets it).

``--compare-boxes N`` (0 to skip) repeats the run with N boxes committed the way the import
worked before it was chunked (one transaction: ``CHUNK_BOXES`` set above N), so the two waits
are measured in one run on one machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.store import Project, create_box, move_box  # noqa: E402
from app.store.tables import Image, utcnow  # noqa: E402
from srn.formats import wider  # noqa: E402

TARGET_S = 1.0
IMPORTER = """
import sys
from app.store import labels
if sys.argv[3] != "default":
    labels.CHUNK_BOXES = int(sys.argv[3])
from app.store.cli import main
sys.exit(main(["import-labels", sys.argv[1], sys.argv[2], "--format", "wider"]))
"""


def make_project(folder: Path, n_images: int) -> Path:
    db = folder / "p.db"
    with Project.create(db) as project:
        root = project.add_root(folder)
        now = utcnow()
        with project.write() as s:  # rows only: the import matches names, it never opens the files
            s.execute(Image.__table__.insert(), [
                {"root_id": root, "rel_path": f"{i:05d}.jpg", "content_hash": f"{i:064x}", "width": 1080,
                 "height": 720, "split": None, "status": "new", "created_at": now, "updated_at": now}
                for i in range(n_images)])
    return db


def make_labels(path: Path, n_images: int, n_boxes: int) -> Path:
    rng = np.random.default_rng(0)
    per = np.full(n_images, n_boxes // n_images)
    per[: n_boxes % n_images] += 1
    records = []
    for i, k in enumerate(per):
        xy = rng.uniform(0, 1000, (k, 2)).round(1)
        records.append(wider.WiderRecord(f"{i:05d}.jpg", np.hstack([xy, rng.uniform(8, 60, (k, 2)).round(1)]),
                                         np.zeros((k, 6), np.int64)))
    return wider.write_gt(path, records)


def run(n_images: int, n_boxes: int, chunk: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = make_project(folder, n_images)
        labels = make_labels(folder / "gt.txt", n_images, n_boxes)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        waits = []
        with Project.open(db, author="reviewer") as project:
            box = create_box(project, 1, (1.0, 1.0, 20.0, 20.0))
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", IMPORTER, str(db), str(labels), chunk], env=env,
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            while proc.poll() is None:
                t = time.perf_counter()
                box = move_box(project, box.id, box.version, (1.0, 1.0, 20.0 + len(waits) % 5, 20.0))
                waits.append(time.perf_counter() - t)
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"the import failed: {err}")
    waits.sort()
    return {"seconds": elapsed, "edits": len(waits), "median": statistics.median(waits),
            "p99": waits[min(len(waits) - 1, int(0.99 * len(waits)))], "max": waits[-1]}


def report(label: str, r: dict) -> None:
    print(f"{label}: import {r['seconds']:.1f} s; {r['edits']} edits meanwhile, wait median "
          f"{1000 * r['median']:.0f} ms, p99 {1000 * r['p99']:.0f} ms, longest {r['max']:.2f} s "
          f"(target {TARGET_S:.0f} s, ratio {r['max'] / TARGET_S:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--compare-boxes", type=int, default=200_000)
    args = parser.parse_args()
    report(f"chunked import of {args.boxes:,} boxes", run(args.images, args.boxes, "default"))
    if args.compare_boxes:
        report(f"one-transaction import of {args.compare_boxes:,} boxes (as before)",
               run(args.images, args.compare_boxes, str(args.compare_boxes + 1)))


if __name__ == "__main__":
    main()
