"""The EvaluateJob and the EvaluationView on a real project and a tiny random-weight SRN."""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, Qt

from app.jobs.evaluate_job import EvaluateJob, LabelSet
from app.store.boxes import create_box
from app.store.detections import register_model
from app.store.evaluations import HELDOUT, evaluations, experiment_table
from app.store.images import import_images, set_review_status, set_split
from app.store.project import Project
from app.store.queue import review_queue
from app.ui.evaluation_view import CHOOSE_LABELS, EvaluationView
from srn.engine.detector import Detector
from srn.eval.matching import evaluate_ap50
from srn.imageio import as_rgb8, read_image

WAIT_MS = 60_000
NAMES = ["a.png", "b.png", "c.png", "d.png"]
BAD = "c.png"


def _rgb(path):
    return as_rgb8(read_image(path), path)


@pytest.fixture(scope="session")
def checkpoint(confident_checkpoint) -> Path:
    return confident_checkpoint


@pytest.fixture(scope="module")
def detector(checkpoint) -> Detector:
    return Detector.from_checkpoint(checkpoint, device="cpu")


@pytest.fixture
def labelled(tmp_path, write_images, checkpoint, detector):
    """Four reviewed val images (plus one train image); the ground truth is two of the model's own
    boxes per image (hits), one face it does not find (a miss) and an ignored face. ``c.png`` is then
    overwritten with garbage."""
    folder = tmp_path / "images"
    write_images(folder, [*NAMES, "train.png"])
    project = Project.create(tmp_path / "p.db")
    import_images(project, folder)
    ids = {q.rel_path: q.image_id for q in review_queue(project, "path")}
    val = [ids[n] for n in NAMES]
    set_split(project, val, "val")
    set_split(project, [ids["train.png"]], "train")
    set_review_status(project, [*val, ids["train.png"]], "done")
    for name in NAMES:
        image = _rgb(folder / name)
        det = detector.detect([image])[0]
        boxes = det.boxes.numpy()
        for box in boxes[[1, len(boxes) // 2]]:  # the top box stays a false positive
            create_box(project, ids[name], tuple(float(v) for v in box))
        create_box(project, ids[name], (2, 2, 12, 12))
        create_box(project, ids[name], (140, 100, 159, 119), ignore=True)
    (folder / BAD).write_bytes(b"not an image")
    model = register_model(project, "base", checkpoint)
    yield project, ids, folder, model
    project.close()


def _expected(project, ids, folder, detector, enhance=None):
    """AP@0.5 computed directly with srn.eval on the same detections the job should make."""
    from app.store.boxes import boxes_of

    gt, keep, preds = [], [], []
    for name in NAMES:
        if name == BAD:
            continue
        faces = [b for b in boxes_of(project, ids[name]) if b.state == "accepted"]
        gt.append(np.array([b.xyxy for b in faces]))
        keep.append(np.array([not b.ignore for b in faces]))
        det = detector.detect([_rgb(folder / name)], enhance=enhance)[0]
        preds.append((det.boxes.numpy().astype(np.float64), det.scores.numpy().astype(np.float64)))
    return evaluate_ap50(gt, preds, keep=keep)


def _job(project, model_id, dataset=HELDOUT, enhance=None):
    return EvaluateJob(project, model_id, dataset, enhance, "cpu", parent=QCoreApplication.instance())


def test_job_scores_like_srn_eval_stores_it_and_skips_the_corrupt_image(qtbot, labelled, detector):
    project, ids, folder, model = labelled
    job = _job(project, model.id)
    failed_images, progress = [], []
    job.image_failed.connect(lambda path, message: failed_images.append((path, message)))
    job.progress.connect(lambda d, t, eta: progress.append((d, t)))
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000)
    assert job.worker.thread_ident not in (None, threading.get_ident())

    [stored] = evaluations(project, model.id, HELDOUT)
    assert stored.id == blocker.args[0]
    expected = _expected(project, ids, folder, detector)
    assert 0 < expected.ap < 1
    assert stored.ap == pytest.approx(expected.ap, abs=1e-12)
    assert (stored.n_images, stored.n_faces) == (3, expected.num_faces) == (3, 9)  # ignored faces not counted
    assert stored.enhanced is False and stored.enhance_settings is None
    assert 2 <= len(stored.curve["recall"]) <= 200
    assert stored.curve["recall"][-1] == pytest.approx(expected.curve.recall[-1])

    assert progress[0] == (0, 4) and progress[-1] == (4, 4)
    assert [Path(p).name for p, _ in failed_images] == [BAD] and BAD in failed_images[0][1]
    assert [Path(s["path"]).name for s in stored.skipped] == [BAD] and stored.skipped[0]["image_id"] == ids[BAD]

    # every planted miss is listed with its image id and box; no error on the corrupt image
    missed = {(m["image_id"], tuple(m["box"])) for m in stored.missed}
    assert {(ids[n], (2.0, 2.0, 12.0, 12.0)) for n in NAMES if n != BAD} <= missed
    assert all(m["image_id"] != ids[BAD] for m in stored.missed + stored.false_positives)
    threshold = stored.errors["threshold"]
    assert stored.false_positives and all(fp["score"] >= threshold for fp in stored.false_positives)
    assert stored.errors["n_false_positives"] == len(stored.false_positives)


def test_cancel_stores_nothing(qtbot, labelled):
    project, _, _, model = labelled
    job = _job(project, model.id)
    # Direct: cancel in the worker thread as soon as the first image is done.
    job.worker.progress.connect(lambda d, t, eta: job.cancel() if d == 1 else None, Qt.ConnectionType.DirectConnection)
    finished = []
    job.finished.connect(finished.append)
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        job.start()
    assert job.wait(5_000)
    assert not finished and evaluations(project) == []


def test_a_missing_checkpoint_and_an_empty_held_out_set_fail_with_clear_messages(qtbot, labelled, tmp_path):
    project, ids, _, model = labelled
    moved = tmp_path / "gone.pth"
    shutil.copy(model.checkpoint_path, moved)
    other = register_model(project, "moved away", moved)
    moved.unlink()
    job = _job(project, other.id)
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000) and str(moved) in blocker.args[0]

    set_split(project, list(ids.values()), None)
    job = _job(project, model.id)
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000) and "held-out set is empty" in blocker.args[0]
    assert evaluations(project) == []


def test_darkface_label_set_outside_the_project(qtbot, labelled, tmp_path, write_images, detector):
    from srn.formats.darkface import write_label

    project, _, _, model = labelled
    images = tmp_path / "outside" / "image"
    labels = tmp_path / "outside" / "label"
    write_images(images, ["1.png", "2.png"], size=(128, 96))
    truth = {}
    for stem in ("1", "2"):
        det = detector.detect([_rgb(images / f"{stem}.png")])[0]
        truth[stem] = det.boxes.numpy()[:1].astype(np.float64)
        write_label(labels / f"{stem}.txt", truth[stem])
    job = _job(project, model.id, LabelSet(labels, images))
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        job.start()
    assert job.wait(5_000)
    [stored] = evaluations(project, dataset="labels:label")
    preds = [tuple(a.numpy().astype(np.float64) for a in (d.boxes, d.scores)) for d in
             (detector.detect([_rgb(images / f"{s}.png")])[0] for s in ("1", "2"))]
    assert stored.ap == pytest.approx(evaluate_ap50([truth["1"], truth["2"]], preds).ap, abs=1e-12)
    assert stored.n_images == 2 and stored.n_faces == 2
    assert all(e["image_id"] is None and e["path"].startswith(str(images)) for e in stored.false_positives)

    bad = tmp_path / "bad_label"
    bad.mkdir()
    (bad / "1.txt").write_text("2\n1 2 3 4\n")
    job = _job(project, model.id, LabelSet(bad, images))
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as blocker:
        job.start()
    assert job.wait(5_000) and str(bad / "1.txt") in blocker.args[0]


def test_view_runs_shows_curve_table_and_errors_and_computes_missing_cells(qtbot, labelled, detector):
    project, ids, folder, model = labelled
    view = EvaluationView()
    qtbot.addWidget(view)
    view.device = "cpu"
    view.set_project(project)
    assert view.selected_model_id() == model.id
    assert [view.table.item(r, 2).text() for r in range(3)] == ["missing"] * 3
    assert view.compute_button.isEnabled()

    with qtbot.waitSignal(view.redetect_requested) as blocker:
        view.redetect_button.click()
    assert blocker.args == [model.id]

    with qtbot.waitSignal(view.evaluation_finished, timeout=WAIT_MS) as blocker:
        view.run_button.click()
    evaluation_id = blocker.args[0]
    [stored] = evaluations(project)
    assert stored.id == evaluation_id and not view.is_running()

    # the curve drawn is the stored one; the table cell shows its AP; the other cells are missing
    recall, precision = view.curves[evaluation_id].getData()
    r, p = stored.curve_arrays()
    np.testing.assert_allclose(recall, r)
    np.testing.assert_allclose(precision, p)
    assert view.table.item(0, 2).text() == f"{stored.ap:.4f}" == f"{_expected(project, ids, folder, detector).ap:.4f}"
    assert view.table.item(0, 1).text() == "base"
    assert view.table.item(1, 2).text() == "missing" and view.table.item(2, 1).text() == "—"
    view.set_checked(evaluation_id, False)
    assert evaluation_id not in view.curves

    # activating an error opens its image on its box
    assert view.current_evaluation_id() == evaluation_id
    items = [view.errors.topLevelItem(i) for i in range(view.errors.topLevelItemCount())]
    kinds = [i.text(0) for i in items]
    assert kinds.count("missed") == len(stored.missed) and kinds.count("skipped") == 1
    fp_item = items[kinds.index("false positive")]
    miss_item = items[kinds.index("missed")]
    with qtbot.waitSignal(view.open_location) as blocker:
        view.errors.itemActivated.emit(fp_item, 0)
    fp = stored.false_positives[0]
    assert blocker.args == [fp["image_id"], tuple(fp["box"])]
    with qtbot.waitSignal(view.open_location) as blocker:
        view.errors.itemActivated.emit(miss_item, 0)
    assert blocker.args == [stored.missed[0]["image_id"], tuple(stored.missed[0]["box"])]
    assert isinstance(blocker.args[0], int) and all(isinstance(v, float) for v in blocker.args[1])

    # a fine-tuned child appears: "Compute missing" fills both enhanced cells, one after the other
    tuned = register_model(project, "fine-tuned", _copy(model.checkpoint_path), parent_id=model.id)
    view.refresh_models()
    assert view.table.item(2, 1).text() == "fine-tuned"
    done = []
    view.evaluation_finished.connect(done.append)
    view.compute_missing()
    qtbot.waitUntil(lambda: len(done) == 2 and not view.is_running(), timeout=2 * WAIT_MS)
    rows = experiment_table(project)
    assert not any(r.missing for r in rows)
    assert [r.model_version_id for r in rows] == [model.id, model.id, tuned.id]
    assert all(r.evaluation.enhanced and r.evaluation.enhance_settings["method"] == "msrcr" for r in rows[1:])
    assert all(view.table.item(r, 2).text() == f"{rows[r].ap:.4f}" for r in range(3))
    assert not view.compute_button.isEnabled()
    assert math.isfinite(rows[1].ap)

    # "Labelled set from file…" asks for the files; abandoning it keeps the previous choice
    view.choose_labels = lambda parent: None
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findText(CHOOSE_LABELS))
    assert view.selected_dataset() == HELDOUT and view.dataset_combo.currentIndex() == 0
    chosen = LabelSet(folder / "label", folder)
    view.choose_labels = lambda parent: chosen
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findText(CHOOSE_LABELS))
    assert view.selected_dataset() == chosen and view.dataset_combo.currentText().startswith("label (")
    view.stop()


def _copy(path: str) -> Path:
    target = Path(path).with_name("fine_tuned.pth")
    shutil.copy(path, target)
    return target
