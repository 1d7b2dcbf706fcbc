"""The EvaluateJob and the EvaluationView on a real project and a tiny random-weight SRN."""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, Qt

from app.jobs.evaluate_job import EvaluateJob, EvaluateWorker, LabelSet
from app.store.boxes import boxes_of, create_box, move_box
from app.store.detections import register_model
from app.store.evaluations import evaluations, record_evaluation
from app.store.experiment_table import STALE_HELDOUT, STALE_SETTINGS, experiment_table
from app.store.images import import_images, set_review_status, set_split
from app.store.labelled_sets import HELDOUT, heldout_fingerprint, label_files_fingerprint
from app.store.project import Project
from app.store.queue import review_queue
from app.ui.evaluation_pickers import CHOOSE_LABELS
from app.ui.evaluation_view import EvaluationView
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
    assert stored.dataset_fingerprint == heldout_fingerprint(project)  # the ground truth it was scored on
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
    label_set = LabelSet(labels, images)
    job = _job(project, model.id, label_set)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        job.start()
    assert job.wait(5_000)
    [stored] = evaluations(project, dataset=label_set.dataset)
    assert stored.dataset.startswith("labels:outside/label#")
    assert stored.dataset_fingerprint == label_files_fingerprint(labels)
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
    assert not any(r.missing for r in rows[:3])
    assert [r.model_version_id for r in rows] == [model.id, model.id, tuned.id, None]
    assert all(r.evaluation.enhanced and r.evaluation.enhance_settings["method"] == "msrcr" for r in rows[1:3])
    assert all(view.table.item(r, 2).text() == f"{rows[r].ap:.4f}" for r in range(3))
    # row D waits for a model fine-tuned on raw images, and says so; nothing is left to compute
    assert view.table.item(3, 2).text() == "missing" and "fine-tuned on raw images" in view.table.item(3, 2).toolTip()
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


def _cells(view) -> list[tuple[str, str]]:
    return [(view.table.item(r, 2).text(), view.table.item(r, 2).toolTip()) for r in range(view.table.rowCount())]


def test_stale_cells_are_computed_again_after_review_or_enhancement_changes(qtbot, labelled):
    from srn.enhance import MSRCRParams

    project, ids, _, model = labelled
    set_review_status(project, [ids["d.png"]], "in_progress")  # reviewed later, below
    view = EvaluationView()
    qtbot.addWidget(view)
    view.device = "cpu"
    view.set_project(project)
    done = []
    view.evaluation_finished.connect(done.append)

    def compute(n):
        done.clear()
        assert view.compute_missing() is not None
        qtbot.waitUntil(lambda: len(done) == n and not view.is_running(), timeout=n * WAIT_MS)

    compute(2)  # base raw, base enhanced (no fine-tuned model)
    first = evaluations(project)
    assert [(e.enhanced, e.n_images) for e in first] == [(False, 2), (True, 2)]  # a, b (c is corrupt)
    assert [text for text, _ in _cells(view)[:2]] == [f"{e.ap:.4f}" for e in first]
    assert view.missing_cells() == [] and not view.compute_button.isEnabled()

    # review goes on: another val image is done -> both cells are stale, and say why
    set_review_status(project, [ids["d.png"]], "done")
    view.refresh()
    assert [text for text, _ in _cells(view)[:2]] == ["missing", "missing"]
    assert all(STALE_HELDOUT in tip for _, tip in _cells(view)[:2])
    assert view.missing_cells() == [(model.id, False), (model.id, True)] and view.compute_button.isEnabled()
    compute(2)
    second = evaluations(project)[2:]
    assert [(e.enhanced, e.n_images) for e in second] == [(False, 3), (True, 3)]
    assert [r.evaluation.id for r in experiment_table(project)[:2]] == [e.id for e in second]

    # a ground-truth box is edited: stale again
    box = next(b for b in boxes_of(project, ids["a.png"]) if b.state == "accepted" and not b.ignore)
    move_box(project, box.id, box.version, (box.x1 + 1, box.y1, box.x2, box.y2))
    assert view.missing_cells() == [(model.id, False), (model.id, True)]
    move_box(project, box.id, box.version + 1, box.xyxy)  # moved back: the ground truth it was scored on
    assert view.missing_cells() == []

    # other enhancement settings: only the enhanced cell is stale
    view.enhance_params = lambda: MSRCRParams(alpha=100.0)
    view.refresh()
    assert _cells(view)[0][0] != "missing" and _cells(view)[1][0] == "missing"
    assert STALE_SETTINGS in _cells(view)[1][1]
    assert view.missing_cells() == [(model.id, True)]
    compute(1)
    third = evaluations(project)[-1]
    assert third.enhanced and third.enhance_settings == MSRCRParams(alpha=100.0).to_dict()
    assert experiment_table(project, view.enhance_settings())[1].evaluation.id == third.id
    assert view.missing_cells() == [] and _cells(view)[1][0] == f"{third.ap:.4f}"
    view.stop()


def test_an_evaluation_ending_after_a_project_switch_stays_out_of_the_new_project(qtbot, labelled, tmp_path,
                                                                                   monkeypatch):
    project, _, _, model = labelled
    other = Project.create(tmp_path / "other.db")
    try:
        other_model = register_model(other, "other base", model.checkpoint_path)
        mine = record_evaluation(other, other_model.id, HELDOUT, ap=0.25, n_images=1, n_faces=1,
                                 dataset_fingerprint=heldout_fingerprint(other))
        view = EvaluationView()
        qtbot.addWidget(view)
        view.device = "cpu"
        view.set_project(project)
        finished = []
        view.evaluation_finished.connect(finished.append)

        # A cancel that comes too late: the job stores into the old project after the switch.
        job = view.run()
        assert job is not None and job.project is project
        job.cancel = lambda: None
        view.set_project(other)
        assert not view.is_running() and view.run_button.isEnabled()  # the new project is free to run
        with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as blocker:
            pass
        stored_id = blocker.args[0]
        assert [e.id for e in evaluations(project)] == [stored_id] == [mine.id]  # the ids of two projects collide
        assert not finished and view.current_evaluation_id() is None and view.curves == {}
        assert [view.evaluation_list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(view.evaluation_list.count())] == [mine.id]
        assert view.evaluation_list.item(0).text().startswith("other base")
        log = view.log.toPlainText()
        assert "Skipped" not in log and "Stored" not in log and "Model loaded" not in log
        assert view.progress_bar.maximum() == 1 and not view.is_running()
        with qtbot.waitSignal(job.destroyed, timeout=5_000):  # cleaned up
            pass

        # A cancel in time (the model loads only after the switch): the job's "cancelled" does not
        # touch the new project's view either.
        gate, load = threading.Event(), EvaluateWorker._load
        monkeypatch.setattr(EvaluateWorker, "_load",
                            lambda worker, path: gate.wait(WAIT_MS / 1000) and load(worker, path))
        view.set_project(project)
        job = view.run()
        view.set_project(other)
        gate.set()
        with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
            pass
        assert "Cancelled; nothing stored" not in view.log.toPlainText()
        assert len(evaluations(project)) == 1 and not finished
        assert view.stop()
    finally:
        other.close()
