"""Training in the store: the fixed held-out split, run records, lineage, and the manifest export."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.jobs.training_export import ExportError, export_training_set
from app.store import (
    NotFoundError,
    Project,
    StoreError,
    import_images,
    model_versions,
    register_model,
    undo_last,
)
from app.store.tables import Image, ModelVersion, TrainingRun
from app.store.training import (
    ensure_validation_split,
    finish_training_run,
    held_out_in_review_count,
    mark_training_run,
    split_counts,
    split_hash,
    start_training_run,
    training_runs,
    unique_model_name,
)
from srn.data.manifest import read_manifest
from tests.training_fixtures import tiny_checkpoint


def _splits(project: Project) -> dict[str, str | None]:
    with project.read() as s:
        return {rel: split for rel, split in s.query(Image.rel_path, Image.split)}


# ------------------------------------------------------------------------------------ split


def test_split_hash_is_a_stable_function_of_the_path():
    assert split_hash("a/b.png") == split_hash("a/b.png") != split_hash("a/c.png")
    assert split_hash("a/b.png", seed=1) != split_hash("a/b.png")
    values = [split_hash(f"dir/{i}.jpg") for i in range(4000)]
    assert all(0 <= v < 1 for v in values)
    assert 0.18 < sum(v < 0.2 for v in values) / len(values) < 0.22


def test_split_is_deterministic_and_fixed_across_calls(tmp_path, write_images):
    names = [f"img_{i:03d}.png" for i in range(30)]
    folders = []
    for k in range(2):  # the same image paths in two independent projects
        folder = tmp_path / f"p{k}" / "images"
        write_images(folder, names if k == 0 else list(reversed(names)))  # other import order, other ids
        folders.append(folder)
    projects = [Project.create(f.parent / "p.db", roots=[f]) for f in folders]
    try:
        for p in projects:
            import_images(p, p.roots()[0][1])
            with p.write() as s:  # the first 20 (by name) are labelled; 20..29 not yet
                s.query(Image).filter(Image.rel_path < "img_020").update({"status": "done"})
        reports = [ensure_validation_split(p) for p in projects]
        assert reports[0] == reports[1]
        assert reports[0].train + reports[0].val == 20 and reports[0].val == reports[0].new_val >= 1
        first = [_splits(p) for p in projects]
        assert first[0] == first[1]
        assert {first[0][n] for n in names[:20]} == {"train", "val"}
        assert all(first[0][n] is None for n in names[20:]), "unlabelled images get no split"
        expected_val = {n for n in names[:20] if split_hash(n) < 0.2}
        assert {n for n in names[:20] if first[0][n] == "val"} == expected_val

        again = ensure_validation_split(projects[0])
        assert (again.new_train, again.new_val) == (0, 0) and _splits(projects[0]) == first[0]
        # More labelled images later: the old ones keep their split; a different fraction changes nothing old.
        with projects[0].write() as s:
            s.query(Image).update({"status": "done"})
        later = ensure_validation_split(projects[0], fraction=0.5)
        now = _splits(projects[0])
        assert all(now[n] == first[0][n] for n in names[:20])
        assert later.new_train + later.new_val == 10 and all(now[n] in ("train", "val") for n in names[20:])
        # Undo does not move the held-out set (the assignment is logged, not undoable).
        assert undo_last(projects[0]) is None and _splits(projects[0]) == now
    finally:
        for p in projects:
            p.close()


def test_images_trained_on_while_in_review_are_never_held_out_later(tmp_path, write_images):
    """The leak: labelled images still in review trained without a split; once done, about one in
    five became held out although earlier models had trained on them."""
    from app.store import create_box, set_review_status

    folder = tmp_path / "images"
    names = [f"img_{i:02d}.png" for i in range(30)]
    write_images(folder, names)
    with Project.create(tmp_path / "p.db", roots=[folder]) as p:
        import_images(p, folder)
        with p.read() as s:
            ids = {rel: image_id for image_id, rel in s.query(Image.id, Image.rel_path)}
        for name in names:  # every image has a face drawn: labelled
            create_box(p, ids[name], (10, 10, 40, 40))
        set_review_status(p, [ids[n] for n in names[:5]], "done")
        set_review_status(p, [ids[n] for n in names[5:]], "in_progress")  # 25 labelled, still in review

        ensure_validation_split(p)
        first = export_training_set(p, tmp_path / "run1")
        trained = set(_by_stem(read_manifest(first.train)))
        assert len(trained) >= 15  # most in-review images train in the first run
        held_out_first = {Path(n).stem for n, sp in _splits(p).items() if sp == "val"}
        assert held_out_first and not held_out_first & trained
        assert any(h < 0.2 for h in (split_hash(n) for n in names[5:])), "some in-review path hashes below 0.2"

        set_review_status(p, list(ids.values()), "done")
        ensure_validation_split(p)
        second = export_training_set(p, tmp_path / "run2")
        scored = set(_by_stem(read_manifest(second.val)))
        assert not scored & trained, f"held out now but trained on in run 1: {sorted(scored & trained)}"
        assert scored == held_out_first  # the held-out images, all scored now that they are done
        assert set(_by_stem(read_manifest(second.train))) == trained


def test_small_project_gets_one_held_out_image(tmp_path, write_images):
    folder = tmp_path / "images"
    names = ["a.png", "b.png", "c.png"]
    write_images(folder, names)
    with Project.create(tmp_path / "p.db", roots=[folder]) as p:
        import_images(p, folder)
        with p.write() as s:
            s.query(Image).update({"status": "done"})
        report = ensure_validation_split(p)
        assert (report.train, report.val) == (2, 1)
        smallest = min(names, key=split_hash)
        assert _splits(p)[smallest] == "val"
        with pytest.raises(StoreError, match="fraction"):
            ensure_validation_split(p, fraction=1.0)


# ------------------------------------------------------------------------------------ runs


def test_runs_newest_first_and_status_stamps(tp):
    p = tp.project
    a = start_training_run(p, {"settings": {"iterations": 5}})
    b = start_training_run(p, {"settings": {"iterations": 6}})
    runs = training_runs(p)
    assert [r.id for r in runs] == [b, a] and runs[0].status == "queued" and runs[0].started_at is None
    run = mark_training_run(p, a, "running", log_path="/x/train.log", config={"run_dir": "/x"})
    assert run.started_at is not None and run.finished_at is None and run.log_path == "/x/train.log"
    assert run.config == {"settings": {"iterations": 5}, "run_dir": "/x"}
    run = mark_training_run(p, a, "failed", metrics={"error": "boom"})
    assert run.finished_at is not None and run.metrics == {"error": "boom"} and not run.model_version_id
    assert [r.id for r in training_runs(p, statuses=["failed"])] == [a]
    with pytest.raises(StoreError, match="status"):
        mark_training_run(p, a, "exploded")
    with pytest.raises(NotFoundError, match="99"):
        mark_training_run(p, 99, "running")


def test_finish_registers_lineage_and_marks_finished_in_one_transaction(tp, tmp_path):
    p = tp.project
    run_id = start_training_run(p, {}, status="running")
    ckpt = tiny_checkpoint(tmp_path / "final.pth")
    taken = unique_model_name(p, "tiny base")
    assert taken == "tiny base (2)"
    # A name clash refuses both: no model row and the run still running.
    with pytest.raises(StoreError, match="already exists"):
        finish_training_run(p, run_id, ckpt, name="tiny base", parent_id=tp.base_id, metrics={"val_ap50": 0.5})
    with p.read() as s:
        assert s.get(TrainingRun, run_id).status == "running" and s.query(ModelVersion).count() == 1
    version = finish_training_run(p, run_id, ckpt, name="tiny base ft1", parent_id=tp.base_id,
                                  metrics={"val_ap50": 0.5, "iterations": 3})
    assert (version.parent_id, version.training_run_id, version.metrics["val_ap50"]) == (tp.base_id, run_id, 0.5)
    run = training_runs(p)[0]
    assert run.status == "finished" and run.model_version_id == version.id and run.metrics["iterations"] == 3
    assert [m.name for m in model_versions(p)] == ["tiny base", "tiny base ft1"]
    with pytest.raises(StoreError, match="already finished"):
        finish_training_run(p, run_id, ckpt, name="again", parent_id=None)
    with pytest.raises(NotFoundError, match="parent"):
        finish_training_run(p, start_training_run(p, {}), ckpt, name="orphan", parent_id=999)
    register_model(p, "other", ckpt)  # the ordinary registration still works alongside


# ------------------------------------------------------------------------------------ export


def _by_stem(samples) -> dict:
    return {Path(s.image_path).stem: s for s in samples}


def test_export_matches_the_store(tp, tmp_path):
    p, ids = tp.project, tp.ids
    split = ensure_validation_split(p)
    splits = {Path(rel).stem: sp for rel, sp in _splits(p).items()}
    labelled, done = {"1", "2", "3", "4", "5", "6", "8"}, {"1", "2", "3", "5"}
    # every labelled image is split, finished or in review (4, 6, 8): trained on once, never held out later
    assert {k for k, v in splits.items() if v} == labelled and split.train + split.val == 7
    expected_val = {k for k in labelled if split_hash(f"{k}.png") < 0.2}
    assert expected_val == {"4"}, "the fixture's paths: only 4 (in review) hashes below 0.2"
    # ...so the finished image with the smallest hash is held out too: there is a held-out set to score
    assert {k for k, v in splits.items() if v == "val"} == {"4", min(done, key=lambda k: split_hash(f"{k}.png"))}
    assert split_counts(p) == {"train": split.train, "val": split.val} == {"train": 5, "val": 2}
    assert held_out_in_review_count(p) == 1

    export = export_training_set(p, tmp_path / "out", pseudo={"threshold": 0.8, "weight": 0.4})
    train = _by_stem(read_manifest(export.train))
    val = _by_stem(read_manifest(export.val)) if export.val else {}
    assert set(train) == {k for k in labelled if splits[k] == "train"}  # in-review images of train train
    assert set(val) == {k for k in done if splits[k] == "val"} == {"1"}  # 4 (in review): neither trained nor scored
    both = {**train, **val}
    from app.store import boxes_of

    for stem, sample in both.items():
        accepted = [b for b in boxes_of(p, ids[stem]) if b.state == "accepted"]
        assert sample.boxes.tolist() == [list(b.xyxy) for b in accepted]
        assert sample.ignore.tolist() == [b.ignore or bool(b.invalid) for b in accepted]
        assert sample.fully_labelled == (stem in {"1", "2", "3", "5"}), stem
        assert sample.weights.tolist() == [1.0] * len(accepted)
        assert Path(sample.image_path) == tp.images / f"{stem}.png"
    if "6" in train:  # model boxes: the accepted one is a target, the rejected one a hard negative
        assert train["6"].boxes.tolist() == [[10, 10, 40, 40]]
        assert train["6"].hard_negatives.tolist() == [[80, 60, 110, 90]]
    if "8" in both:
        assert both["8"].ignore.tolist() == [True] and not both["8"].fully_labelled
    assert all(len(s.hard_negatives) == 0 for k, s in both.items() if k != "6")

    pseudo = _by_stem(read_manifest(export.pseudo))
    assert set(pseudo) == {"7"}
    assert pseudo["7"].boxes.tolist() == [[5, 5, 30, 30], [50, 50, 70, 70]]  # 0.95 and 0.85, not 0.5
    assert pseudo["7"].weights.tolist() == pytest.approx([0.4, 0.4]) and not pseudo["7"].fully_labelled
    s = export.summary
    assert s["train"]["images"] == len(train) and s["val"]["images"] == len(val)
    assert s["train"]["boxes"] + s["val"]["boxes"] == sum(len(x.boxes) for x in both.values())
    assert s["train"]["hard_negatives"] == (1 if "6" in train else 0)
    assert (s["pseudo"]["images"], s["pseudo"]["boxes"], s["pseudo"]["weight"]) == (1, 2, 0.4)
    assert export.data_specs()[1] == {"type": "manifest", "path": str(export.pseudo)}

    # Without pseudo-labels there is no pseudo manifest; a skipped or held-out image never gives any.
    plain = export_training_set(p, tmp_path / "plain")
    assert plain.pseudo is None and len(plain.data_specs()) == 1
    from app.store import set_review_status

    set_review_status(p, ids["7"], "skipped")
    assert export_training_set(p, tmp_path / "skip", pseudo={"threshold": 0.8, "weight": 0.5}).pseudo is None

    # A labelled image whose file went missing is left out and counted.
    (tp.images / "1.png").rename(tp.images / "1.moved")
    gone = export_training_set(p, tmp_path / "gone")
    assert gone.summary["missing_files"] == 1 and gone.summary["missing_examples"] == ["1.png"]
    assert "1" not in _by_stem(read_manifest(gone.train)) | _by_stem(read_manifest(gone.val) if gone.val else [])


def test_export_without_labels_says_so(tmp_path, write_images):
    write_images(tmp_path / "images", ["a.png"])
    with Project.create(tmp_path / "p.db", roots=[tmp_path / "images"]) as p:
        import_images(p, tmp_path / "images")
        with pytest.raises(ExportError, match="no labelled training images"):
            export_training_set(p, tmp_path / "out")
        assert not (tmp_path / "out").exists()
