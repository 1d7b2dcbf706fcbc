"""Does the loop work on the sample project? Review ~10 images, fine-tune (quick preset), detect better.

    python benchmarks/sample_loop.py [--review 10] [--data DIR] [--preset quick]

What a newcomer does in the first minutes, scripted through the same code the window runs:

1. the sample project is made as on first launch (``app.sample_project``: 24 synthetic night
   images at 1080×720, status new, the demo model's proposals detected on MSRCR images);
2. the first ``--review`` images (by name) are corrected the way a reviewer would, from the
   generated ground truth, looking at the proposals the window shows (score ≥ 0.5, its default
   min score): one that overlaps a face (IoU ≥ 0.5, best score first) is accepted and moved onto
   the face, the others are rejected, a face left without one is drawn, and the image is marked
   done — every step one store edit;
3. "Fine-tune on my labels" with the preset (``app.jobs.train_presets``; quick is the CPU default)
   on the MSRCR images, from the demo model, as ``TrainJob`` runs it: ``srn train`` in its own
   process, the new model version registered when it ends;
4. AP@0.5 of the demo model and of the new version on the images nobody reviewed, on their MSRCR
   images, against the ground truth.

Prints both APs, the gain, and the fine-tuning minutes (target: ≤ 5 on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEventLoop  # noqa: E402

from app.jobs.train_job import TrainJob  # noqa: E402
from app.jobs.train_presets import PRESETS  # noqa: E402
from app.project_folder import folder_project_path  # noqa: E402
from app.sample_project import SAMPLE_IMAGES, ensure_sample_project  # noqa: E402
from app.store import Project, boxes_of, create_box, move_box, set_box_state, set_review_status  # noqa: E402
from app.store.queue import review_queue  # noqa: E402
from app.store.summaries import image_summaries  # noqa: E402
from srn.enhance import MSRCRParams  # noqa: E402
from srn.eval.matching import iou_matrix  # noqa: E402
from srn.eval.synthetic import ap_on_night_set  # noqa: E402
from srn.formats.darkface import read_label  # noqa: E402

SHOWN = 0.5
"""The review window's default min score: proposals below it are hidden, so nobody rejects them."""


def review_like_a_person(project: Project, image_id: int, truth: np.ndarray) -> dict:
    """Correct one image's proposals to ``truth`` through the store's edits; returns what was done."""
    proposals = sorted((b for b in boxes_of(project, image_id) if b.state == "proposed" and (b.score or 0.0) >= SHOWN),
                       key=lambda b: -(b.score or 0.0))  # what the window shows at its default min score
    done = {"accepted": 0, "drawn": 0, "rejected": 0}
    free = list(range(len(truth)))
    for box in proposals:
        if free:
            ious = iou_matrix(np.array([box.xyxy]), truth[free])[0]
            best = int(np.argmax(ious))
            if ious[best] >= 0.5:
                face = truth[free.pop(best)]
                accepted = set_box_state(project, box.id, box.version, "accepted")
                move_box(project, accepted.id, accepted.version, face.tolist())
                done["accepted"] += 1
                continue
        set_box_state(project, box.id, box.version, "rejected")
        done["rejected"] += 1
    for index in free:
        create_box(project, image_id, truth[index].tolist())
        done["drawn"] += 1
    set_review_status(project, image_id, "done")
    return done


def fine_tune(project: Project, base, preset: str) -> tuple[int, float]:
    """Run the app's fine-tuning job to its end; returns the new model version id and minutes."""
    settings = {**PRESETS[preset].settings(), "base_checkpoint": base.checkpoint_path, "base_model_id": base.id,
                "base_name": base.name, "enhance": MSRCRParams().to_dict(), "device": "cpu"}
    job = TrainJob(project, settings)
    outcome: list = []
    loop = QEventLoop()
    job.finished.connect(lambda run_id, model_id: (outcome.append(model_id), loop.quit()))
    job.failed.connect(lambda run_id, message: (outcome.append(message), loop.quit()))
    job.log_line.connect(lambda line: print(f"  {line}", file=sys.stderr) if line.startswith("srn train") else None)
    started = time.perf_counter()
    job.start()
    loop.exec()
    minutes = (time.perf_counter() - started) / 60
    if not outcome or not isinstance(outcome[0], int):
        raise SystemExit(f"fine-tuning failed: {outcome[0] if outcome else 'no result'}")
    return outcome[0], minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--review", type=int, default=10, help="images to correct and mark done")
    parser.add_argument("--data", type=Path, default=None, help="data folder for the sample (default: temporary)")
    parser.add_argument("--preset", choices=list(PRESETS), default="quick")
    args = parser.parse_args()
    app = QCoreApplication.instance() or QCoreApplication([])  # noqa: F841 - TrainJob's QProcess needs one
    data = args.data or Path(tempfile.mkdtemp(prefix="sample_loop_"))

    started = time.perf_counter()
    sample = ensure_sample_project(data)
    prepare_s = time.perf_counter() - started
    images = sample / SAMPLE_IMAGES
    with Project.open(folder_project_path(images)) as project:
        from app.store.detections import model_versions

        demo = model_versions(project)[0]
        queue = [q.image_id for q in review_queue(project, "path")]
        names = {s.id: Path(s.rel_path).stem for s in image_summaries(project)}
        reviewed = queue[:args.review]
        edits = {"accepted": 0, "drawn": 0, "rejected": 0}
        for image_id in reviewed:
            for key, n in review_like_a_person(project, image_id,
                                               read_label(sample / "label" / f"{names[image_id]}.txt")).items():
                edits[key] += n
        new_id, minutes = fine_tune(project, demo, args.preset)
        new = next(m for m in model_versions(project) if m.id == new_id)
    held_out = [names[i] for i in queue[args.review:]]
    before = ap_on_night_set(demo.checkpoint_path, sample, enhanced=True, stems=held_out)
    after = ap_on_night_set(new.checkpoint_path, sample, enhanced=True, stems=held_out)
    print(json.dumps({
        "sample": str(sample), "sample_prepared_s": round(prepare_s, 1), "reviewed_images": len(reviewed),
        "edits": edits, "preset": PRESETS[args.preset].settings(), "fine_tune_minutes": round(minutes, 2),
        "held_out_images": len(held_out), "ap50_msrcr_demo": round(before, 4),
        "ap50_msrcr_fine_tuned": round(after, 4), "gain": round(after - before, 4), "new_model": new.name,
    }, indent=2))


if __name__ == "__main__":
    main()
