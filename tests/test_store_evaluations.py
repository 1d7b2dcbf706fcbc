"""Stored evaluations, the held-out ground truth, the experiment table's lineage rules, and the
box changes between two detection runs."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import update

from app.store.boxes import create_box, move_box, set_box_state, update_box
from app.store.compare import changed_boxes, changed_boxes_by_model, model_boxes_snapshot, run_boxes
from app.store.detections import record_detections, register_model
from app.store.errors import NotFoundError, StoreError
from app.store.evaluations import MAX_CURVE_POINTS, downsample_curve, evaluations, record_evaluation
from app.store.experiment_table import (
    NO_RAW_FINE_TUNE,
    STALE_HELDOUT,
    STALE_SETTINGS,
    STALE_UNKNOWN_HELDOUT,
    ExperimentModels,
    experiment_models,
    experiment_table,
    raw_trained_models,
)
from app.store.images import import_images, set_review_status, set_split
from app.store.labelled_sets import (
    HELDOUT,
    dataset_title,
    ground_truth_fingerprint,
    heldout_fingerprint,
    heldout_ground_truth,
    label_files_fingerprint,
    labels_dataset,
)
from app.store.project import Project
from app.store.queue import review_queue
from app.store.tables import ModelVersion
from app.store.training import finish_training_run, start_training_run


@pytest.fixture
def project(db_url, tmp_path, write_images):
    folder = tmp_path / "images"
    write_images(folder, ["a.png", "b.png", "c.png"])
    p = Project.create(db_url)
    import_images(p, folder)
    yield p
    p.close()


def _ids(project) -> dict[str, int]:
    return {q.rel_path: q.image_id for q in review_queue(project, "path")}


def _model(project, tmp_path, name, parent_id=None, age_days=0):
    path = tmp_path / f"{name}.pth"
    path.write_bytes(name.encode())
    m = register_model(project, name, path, parent_id=parent_id)
    if age_days:  # created_at decides "oldest" / "newest": set it explicitly, never by sleeping
        with project.write() as s:
            s.execute(update(ModelVersion).where(ModelVersion.id == m.id)
                      .values(created_at=m.created_at - timedelta(days=age_days)))
    return m


def test_record_and_query_evaluations(project, tmp_path):
    m1, m2 = _model(project, tmp_path, "m1"), _model(project, tmp_path, "m2")
    n = 1000
    precision = np.linspace(1, 0.2, n)
    precision[0] = np.nan  # 0/0 before anything counted
    recall = np.linspace(0, 0.9, n)
    errors = {"threshold": 0.4, "false_positives": [{"image_id": 3, "path": "/x/c.png", "box": [1, 2, 30, 40],
                                                     "score": 0.9}],
              "missed": [{"image_id": None, "path": "/elsewhere/z.png", "box": [5, 5, 9, 9], "score": None}],
              "skipped": [{"image_id": 2, "path": "/x/b.png", "message": "/x/b.png: not an image"}]}
    e1 = record_evaluation(project, m1.id, HELDOUT, ap=0.5, n_images=3, n_faces=7, precision=precision,
                           recall=recall, thresholds=np.linspace(1, 0, n), errors=errors)
    e2 = record_evaluation(project, m1.id, "labels:gt.txt", ap=float("nan"), n_images=2, n_faces=0,
                           enhanced=True, enhance_settings={"method": "msrcr"})
    e3 = record_evaluation(project, m2.id, HELDOUT, ap=0.25, n_images=3, n_faces=7, enhanced=True,
                           enhance_settings={"method": "msrcr", "sigmas": [15, 80, 250]})

    assert [e.id for e in evaluations(project)] == [e1.id, e2.id, e3.id]
    assert [e.id for e in evaluations(project, m1.id)] == [e1.id, e2.id]
    assert [e.id for e in evaluations(project, dataset=HELDOUT)] == [e1.id, e3.id]
    assert [e.id for e in evaluations(project, m2.id, dataset="labels:gt.txt")] == []

    got = evaluations(project, m1.id, HELDOUT)[0]
    assert got.ap == 0.5 and (got.n_images, got.n_faces) == (3, 7) and got.enhanced is False
    assert got.enhance_settings is None
    assert len(got.curve["precision"]) == MAX_CURVE_POINTS == len(got.curve["recall"])
    assert got.curve["precision"][0] is None and got.curve["recall"][0] == 0.0
    assert got.curve["recall"][-1] == pytest.approx(0.9) and got.curve["precision"][-1] == pytest.approx(0.2)
    r, p = got.curve_arrays()
    assert np.isnan(p[0]) and np.all(np.diff(r) > 0)
    assert got.false_positives == [{"image_id": 3, "path": "/x/c.png", "box": [1.0, 2.0, 30.0, 40.0], "score": 0.9}]
    assert got.missed[0]["image_id"] is None and got.missed[0]["path"] == "/elsewhere/z.png"
    assert got.skipped[0]["message"] == "/x/b.png: not an image" and got.errors["threshold"] == 0.4
    assert evaluations(project, m1.id, "labels:gt.txt")[0].ap is None  # no faces: AP undefined, not NaN
    assert evaluations(project, m2.id)[0].enhance_settings["sigmas"] == [15, 80, 250]

    with pytest.raises(NotFoundError, match="model version with id 999"):
        record_evaluation(project, 999, HELDOUT, ap=0.1, n_images=1, n_faces=1)
    with pytest.raises(StoreError, match="dataset must be"):
        record_evaluation(project, m1.id, "val", ap=0.1, n_images=1, n_faces=1)
    with pytest.raises(StoreError, match="four finite numbers"):
        record_evaluation(project, m1.id, HELDOUT, ap=0.1, n_images=1, n_faces=1,
                          errors={"missed": [{"image_id": 1, "box": [1, 2, 3]}]})
    with pytest.raises(StoreError, match="dataset_fingerprint must be 64"):
        record_evaluation(project, m1.id, HELDOUT, ap=0.1, n_images=1, n_faces=1, dataset_fingerprint="abc")
    assert len(evaluations(project)) == 3  # the refused ones wrote nothing
    assert got.dataset_fingerprint is None
    fp = "0123456789abcdef" * 4
    assert record_evaluation(project, m2.id, HELDOUT, ap=0.3, n_images=1, n_faces=1,
                             dataset_fingerprint=fp).dataset_fingerprint == fp
    assert evaluations(project, m2.id, HELDOUT)[-1].dataset_fingerprint == fp


def test_label_sets_in_different_folders_get_different_keys_and_readable_titles(tmp_path, monkeypatch):
    """Every DARK FACE label folder is called ``label``: the key carries a hash of the resolved path."""
    test, val = tmp_path / "night_test" / "label", tmp_path / "night_val" / "label"
    twin = tmp_path / "elsewhere" / "night_test" / "label"  # same parent/name as ``test``
    for folder in (test, val, twin):
        folder.mkdir(parents=True)
    keys = [labels_dataset(f) for f in (test, val, twin)]
    assert len(set(keys)) == 3 and all(k.startswith("labels:") and len(k) <= 300 for k in keys)
    titles = [dataset_title(k) for k in keys]
    assert len(set(titles)) == 3
    assert titles[0].startswith("label (…/night_test) #") and titles[1].startswith("label (…/night_val) #")
    monkeypatch.chdir(tmp_path / "night_val")
    assert labels_dataset("label") == labels_dataset(tmp_path / "night_test" / ".." / "night_val" / "label/") == keys[1]
    wider = tmp_path / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    assert dataset_title(labels_dataset(wider)).startswith("wider_face_val_bbx_gt.txt (…/wider_face_split) #")
    assert dataset_title("labels:gt.txt") == "gt.txt"  # a key written before the path hash

    # the fingerprint of a label set is its files' contents: another file or other boxes change it
    (test / "1.txt").write_text("1\n1 2 30 40\n")
    first = label_files_fingerprint(test)
    assert len(first) == 64 and label_files_fingerprint(test) == first
    (test / ".hidden.txt").write_text("junk")
    (test / "notes.md").write_text("not a label")
    assert label_files_fingerprint(test) == first  # files the DARK FACE reader skips do not count
    (test / "1.txt").write_text("1\n1 2 30 41\n")
    assert label_files_fingerprint(test) != first
    wider.parent.mkdir()
    wider.write_text("a.png\n0\n")
    assert label_files_fingerprint(wider) != label_files_fingerprint(test)


def test_downsample_keeps_short_curves_and_the_ends_of_long_ones():
    short = downsample_curve([1.0, 0.5], [0.1, 0.2], [0.9, 0.8])
    assert short == {"precision": [1.0, 0.5], "recall": [0.1, 0.2], "thresholds": [0.9, 0.8]}
    long = downsample_curve(np.arange(201) / 200, np.arange(201) / 200, max_points=50)
    assert len(long["recall"]) <= 50 and long["recall"][0] == 0 and long["recall"][-1] == 1
    with pytest.raises(StoreError, match="as many"):
        downsample_curve([1, 2], [1])


def test_heldout_ground_truth_is_reviewed_val_images_with_accepted_boxes(project):
    ids = _ids(project)
    set_split(project, [ids["a.png"], ids["b.png"]], "val")
    set_split(project, [ids["c.png"]], "train")
    set_review_status(project, [ids["a.png"], ids["c.png"]], "done")
    face = create_box(project, ids["a.png"], (10, 10, 40, 40))
    create_box(project, ids["a.png"], (50, 20, 70, 50), ignore=True)
    rejected = create_box(project, ids["a.png"], (80, 80, 90, 90))
    set_box_state(project, rejected.id, rejected.version, "rejected")
    create_box(project, ids["b.png"], (1, 1, 20, 20))  # b is not done: not ground truth yet
    create_box(project, ids["c.png"], (1, 1, 20, 20))  # c is training data
    record_detections(project, {ids["a.png"]: (np.array([[0, 0, 30, 30]]), np.array([0.9]))})  # proposals

    gt = heldout_ground_truth(project)
    assert [g.image_id for g in gt] == [ids["a.png"]]
    np.testing.assert_array_equal(gt[0].boxes, [face.xyxy, (50, 20, 70, 50)])
    np.testing.assert_array_equal(gt[0].keep, [True, False])
    assert gt[0].path.name == "a.png" and gt[0].path.is_file()


def test_experiment_table_picks_base_and_newest_fine_tuned_descendant(project, tmp_path):
    assert experiment_models(project) == ExperimentModels(None, None, None)
    assert [r.reason for r in experiment_table(project)] == ["no model version yet"] * 2 + ["no fine-tuned model yet",
                                                                                          NO_RAW_FINE_TUNE]

    old = _model(project, tmp_path, "old", age_days=30)
    _model(project, tmp_path, "other root", age_days=20)
    base, tuned, _ = astuple_models(experiment_models(project))
    assert base.id == old.id and tuned is None  # nothing fine-tuned yet: the oldest model

    base_model = _model(project, tmp_path, "base", age_days=10)
    ft1 = _model(project, tmp_path, "ft1", parent_id=base_model.id, age_days=5)
    ft2 = _model(project, tmp_path, "ft2", parent_id=ft1.id, age_days=1)
    base, tuned, raw = astuple_models(experiment_models(project))
    assert (base.id, tuned.id, raw) == (base_model.id, ft2.id, None)  # the root of the lineage, its newest descendant

    rows = experiment_table(project)
    assert [r.label for r in rows] == ["base model on raw images", "base model on enhanced images",
                                       "fine-tuned model on enhanced images", "fine-tuned on raw images, tested on raw"]
    assert all(r.missing for r in rows)
    assert [r.model_version_id for r in rows] == [base_model.id] * 2 + [ft2.id, None]
    assert "not evaluated" in rows[0].reason

    fp = heldout_fingerprint(project)
    record_evaluation(project, base_model.id, HELDOUT, ap=0.1, n_images=5, n_faces=9, dataset_fingerprint=fp)
    newest_raw = record_evaluation(project, base_model.id, HELDOUT, ap=0.2, n_images=5, n_faces=9,
                                   dataset_fingerprint=fp)
    record_evaluation(project, base_model.id, "labels:other.txt", ap=0.9, n_images=5, n_faces=9, enhanced=True,
                      dataset_fingerprint=fp)
    record_evaluation(project, ft1.id, HELDOUT, ap=0.7, n_images=5, n_faces=9, enhanced=True,  # not the newest
                      dataset_fingerprint=fp)
    tuned_enh = record_evaluation(project, ft2.id, HELDOUT, ap=0.6, n_images=5, n_faces=9, enhanced=True,
                                  dataset_fingerprint=fp)
    rows = experiment_table(project)
    assert [r.ap for r in rows] == [0.2, None, 0.6, None]
    assert rows[0].evaluation.id == newest_raw.id and rows[2].evaluation.id == tuned_enh.id
    assert rows[1].missing and rows[1].reason.startswith("base not evaluated") and "with enhancement" in rows[1].reason

    with project.write() as s:  # deleting a model takes its evaluations with it
        s.delete(s.get(ModelVersion, ft2.id))
    assert [e.model_version_id for e in evaluations(project, dataset=HELDOUT)].count(ft2.id) == 0
    assert experiment_table(project)[2].evaluation.ap == 0.7  # ft1 is now the newest descendant


def astuple_models(chosen: ExperimentModels) -> tuple:
    return chosen.base, chosen.finetuned, chosen.finetuned_raw


def _fine_tune(project, tmp_path, name, parent, enhance, age_days):
    """A model made by a finished training run whose settings say how it was trained."""
    settings = {"iterations": 10} if enhance == "unknown" else {"iterations": 10, "enhance": enhance}
    run = start_training_run(project, {"settings": settings}, status="running")
    weights = tmp_path / f"{name}.pth"
    weights.write_bytes(name.encode())
    m = finish_training_run(project, run, weights, name=name, parent_id=parent)
    with project.write() as s:
        s.execute(update(ModelVersion).where(ModelVersion.id == m.id)
                  .values(created_at=m.created_at - timedelta(days=age_days)))
    return m


def test_row_d_is_the_newest_model_fine_tuned_on_raw_images_tested_raw(project, tmp_path):
    base = _model(project, tmp_path, "base", age_days=10)
    msrcr = {"method": "msrcr"}
    on_enhanced = _fine_tune(project, tmp_path, "ft-msrcr", base.id, msrcr, age_days=6)
    rows = experiment_table(project)
    assert rows[3].model is None and rows[3].reason == NO_RAW_FINE_TUNE and not rows[3].enhanced
    old_raw = _fine_tune(project, tmp_path, "ft-raw-old", base.id, None, age_days=5)
    on_raw = _fine_tune(project, tmp_path, "ft-raw", old_raw.id, None, age_days=3)
    unknown = _fine_tune(project, tmp_path, "ft-older-app", base.id, "unknown", age_days=8)  # no "enhance" recorded
    chosen = experiment_models(project)
    assert (chosen.base.id, chosen.finetuned.id, chosen.finetuned_raw.id) == (base.id, on_enhanced.id, on_raw.id)
    assert raw_trained_models(project) == {old_raw.id, on_raw.id} and unknown.id not in raw_trained_models(project)
    fp = heldout_fingerprint(project)
    raw_eval = record_evaluation(project, on_raw.id, HELDOUT, ap=0.55, n_images=5, n_faces=9, dataset_fingerprint=fp)
    record_evaluation(project, on_raw.id, HELDOUT, ap=0.9, n_images=5, n_faces=9, enhanced=True,  # not row D's input
                      enhance_settings=msrcr, dataset_fingerprint=fp)
    rows = experiment_table(project)
    assert rows[3].evaluation.id == raw_eval.id and rows[3].ap == 0.55
    assert rows[2].model_version_id == on_enhanced.id and rows[2].missing  # C is not D's model


def test_experiment_cells_go_stale_when_the_held_out_set_or_the_enhancement_changes(project, tmp_path):
    ids = _ids(project)
    a, b, c = ids["a.png"], ids["b.png"], ids["c.png"]
    set_split(project, [a, b], "val")
    set_split(project, [c], "train")
    set_review_status(project, [a, c], "done")
    face = create_box(project, a, (10, 10, 40, 40))
    create_box(project, b, (5, 5, 25, 25))  # b is not reviewed yet
    fp = heldout_fingerprint(project)
    assert fp == ground_truth_fingerprint(heldout_ground_truth(project)) and len(fp) == 64
    model = _model(project, tmp_path, "base")
    msrcr = {"method": "msrcr", "sigmas": [15, 80, 250], "alpha": 125.0}
    raw = record_evaluation(project, model.id, HELDOUT, ap=0.5, n_images=1, n_faces=1, dataset_fingerprint=fp)
    enh = record_evaluation(project, model.id, HELDOUT, ap=0.6, n_images=1, n_faces=1, enhanced=True,
                            enhance_settings=msrcr, dataset_fingerprint=fp)

    def cells(settings=msrcr):
        return [(r.evaluation.id if r.evaluation else None, r.reason) for r in experiment_table(project, settings)[:2]]

    assert cells() == [(raw.id, ""), (enh.id, "")]
    assert cells({**msrcr, "sigmas": (15, 80, 250)}) == [(raw.id, ""), (enh.id, "")]  # a tuple is the same setting
    assert cells(None) == [(raw.id, ""), (enh.id, "")]  # settings not given: not compared
    # other enhancement settings: the enhanced cell is stale, the raw one is not
    assert cells({**msrcr, "alpha": 100.0}) == [(raw.id, ""), (None, STALE_SETTINGS)]
    assert experiment_table(project, {**msrcr, "alpha": 100.0})[1].stale.id == enh.id

    # what does not change the ground truth does not matter: proposals, train images, unreviewed boxes
    record_detections(project, {a: (np.array([[0, 0, 30, 30]]), np.array([0.9]))})
    create_box(project, c, (1, 1, 20, 20))
    create_box(project, b, (30, 30, 50, 50))
    assert heldout_fingerprint(project) == fp and cells() == [(raw.id, ""), (enh.id, "")]

    # review goes on: another val image is done -> both cells are stale, with the reason
    set_review_status(project, [b], "done")
    assert heldout_fingerprint(project) != fp
    assert cells() == [(None, STALE_HELDOUT), (None, STALE_HELDOUT)]
    set_review_status(project, [b], "in_progress")  # back as it was: the old results count again
    assert cells() == [(raw.id, ""), (enh.id, "")]

    # a ground-truth box is edited: moved, its ignore flag set, rejected
    moved = move_box(project, face.id, face.version, (11, 10, 40, 40))
    assert cells()[0] == (None, STALE_HELDOUT)
    fresh = record_evaluation(project, model.id, HELDOUT, ap=0.4, n_images=1, n_faces=1,
                              dataset_fingerprint=heldout_fingerprint(project))
    assert cells()[0] == (fresh.id, "")
    ignored = update_box(project, face.id, moved.version, ignore=True)
    assert cells()[0] == (None, STALE_HELDOUT)
    set_box_state(project, face.id, ignored.version, "rejected")
    assert cells()[0] == (None, STALE_HELDOUT)
    assert ground_truth_fingerprint(heldout_ground_truth(project)) == heldout_fingerprint(project) != fp

    # an evaluation stored without a fingerprint does not count either
    unknown = record_evaluation(project, model.id, HELDOUT, ap=0.9, n_images=1, n_faces=1)
    row = experiment_table(project)[0]
    assert row.missing and row.reason == STALE_UNKNOWN_HELDOUT and row.stale.id == unknown.id


def test_changed_boxes_between_two_runs_and_against_a_snapshot(project, tmp_path):
    ids = _ids(project)
    a, b = ids["a.png"], ids["b.png"]
    old = _model(project, tmp_path, "old")
    new = _model(project, tmp_path, "new")
    first = record_detections(project, {a: (np.array([[10, 10, 40, 40], [60, 10, 90, 40], [100, 60, 130, 90]]),
                                            np.array([0.9, 0.8, 0.7])),
                                        b: (np.array([[5, 5, 20, 20]]), np.array([0.5]))}, model_version_id=old.id)
    kept = run_boxes(project, a, first)
    assert len(kept) == 3
    set_box_state(project, kept[0].id, kept[0].version, "accepted")  # touched boxes survive a new run
    set_box_state(project, kept[2].id, kept[2].version, "rejected")
    snapshot = model_boxes_snapshot(project, [a, b])
    assert [x.id for x in snapshot[a]] == [k.id for k in kept]

    second = record_detections(project, {a: (np.array([[11, 11, 41, 41], [140, 10, 150, 20]]), np.array([0.9, 0.6])),
                                         b: (np.array([[5, 5, 20, 20]]), np.array([0.5]))}, model_version_id=new.id)
    new_boxes = run_boxes(project, a, second)
    moved, appeared = new_boxes

    stored = changed_boxes(project, a, second, first)  # only the touched boxes of the first run remain
    assert stored.new == [appeared.id]
    assert stored.gone_ids == [kept[2].id]
    full = changed_boxes(project, a, second, previous_boxes=snapshot[a])  # everything the first run proposed
    assert full.new == [appeared.id] and full.gone_ids == [kept[1].id, kept[2].id]
    assert full.gone[0].xyxy == (60.0, 10.0, 90.0, 40.0) and moved.id not in full.ids
    assert changed_boxes(project, b, second, previous_boxes=snapshot[b]).ids == []
    by_model = changed_boxes_by_model(project, a, new.id, old.id)
    assert by_model == stored

    with pytest.raises(StoreError, match="either previous_run_id or previous_boxes"):
        changed_boxes(project, a, second)
    with pytest.raises(NotFoundError, match="no detection run with id 999"):
        changed_boxes(project, a, second, 999)
    other = _model(project, tmp_path, "never run")
    with pytest.raises(NotFoundError, match=f"model version {other.id} has no detection run"):
        changed_boxes_by_model(project, a, other.id, old.id)
