"""Project statistics and exports on real databases (SQLite, and PostgreSQL via ``db_url``).

Exports are read back with the ``srn.formats`` readers: what a project writes must be what the
evaluation tools and the importers read.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.store import (
    Project,
    StoreError,
    boxes_of,
    create_box,
    import_images,
    import_labels,
    record_detections,
    register_model,
    set_box_state,
    set_review_status,
    set_split,
    update_box,
)
from app.store.export import (
    export,
    export_coco,
    export_darkface,
    export_wider_gt,
    export_wider_predictions,
    label_annotations,
)
from app.store.stats import SIZE_BINS, project_stats
from app.store.tables import Image
from srn.formats import coco, darkface, wider
from srn.formats.records import from_wider


def write_png(path: Path, width: int, height: int, seed: int) -> Path:
    """A small PNG with content unique to ``seed`` (the store skips duplicate content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def image_ids(project: Project) -> dict[str, int]:
    from sqlalchemy import select

    with project.read() as s:
        return dict(s.execute(select(Image.rel_path, Image.id)).all())


# -- statistics ---------------------------------------------------------------------------------


def test_stats_of_a_hand_built_project(db_url: str, tmp_path: Path) -> None:
    root = tmp_path / "images"
    for i, name in enumerate("abcde"):
        write_png(root / f"{name}.png", 320, 240, i)
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(b"weights")
    with Project.create(db_url) as project:
        assert import_images(project, root).added == 5
        ids = image_ids(project)
        a, b, c, d, e = (ids[f"{n}.png"] for n in "abcde")
        set_review_status(project, [a, b], "done")
        set_review_status(project, d, "skipped")
        set_review_status(project, e, "in_progress")
        # faces (accepted boxes) and their sizes sqrt(w*h), w = x2 - x1 + 1
        create_box(project, a, (0, 0, 4, 4))  # 5 px: <10
        create_box(project, a, (10, 10, 24, 24))  # 15: 10-20
        create_box(project, a, (0, 0, 29, 29), source="imported")  # 30: 30-50 (bins include their low end)
        create_box(project, c, (0, 0, 19, 19))  # 20: 20-30
        create_box(project, c, (0, 0, 9, 39))  # sqrt(10 * 40) = 20: 20-30
        create_box(project, e, (0, 0, 99, 99))  # 100: 100-200
        create_box(project, e, (0, 0, 199, 199))  # 200: >=200
        gone = create_box(project, c, (0, 0, 9, 9))
        set_box_state(project, gone.id, gone.version, "deleted")
        create_box(project, d, (1, 1, 5, 5), source="imported", state="rejected")
        model = register_model(project, "m1", checkpoint)
        record_detections(project, {a: ([[0, 0, 49, 49], [5, 5, 14, 14]], [0.9, 0.3]), b: ([], []),
                                    c: ([[0, 0, 79, 79]], [0.8])}, model_version_id=model.id)
        record_detections(project, {b: ([], [])}, model_version_id=model.id, enhanced=True)
        for box in boxes_of(project, a):
            if box.source == "model":
                set_box_state(project, box.id, box.version, "accepted" if box.score > 0.5 else "rejected")  # 50: 50-100

        stats = project_stats(project)

    assert stats.images == 5
    assert stats.images_by_status == {"new": 1, "in_progress": 1, "done": 2, "skipped": 1}
    assert stats.boxes_by_source_state == {
        ("human", "accepted"): 6, ("human", "deleted"): 1,
        ("imported", "accepted"): 1, ("imported", "rejected"): 1,
        ("model", "accepted"): 1, ("model", "rejected"): 1, ("model", "proposed"): 1,
    }
    assert stats.boxes == 12
    assert stats.faces == 8
    assert stats.faces_per_image == {0: 2, 2: 2, 4: 1}  # b, d: none; c, e: two; a: four
    assert list(stats.face_sizes) == [label for label, _, _ in SIZE_BINS]
    assert stats.face_sizes == {"<10": 1, "10-20": 1, "20-30": 2, "30-50": 1, "50-100": 1, "100-200": 1, ">=200": 1}
    assert (stats.model_versions, stats.detection_runs) == (1, 2)

    as_json = json.loads(json.dumps(stats.to_dict()))
    assert as_json["boxes_by_source_state"]["model"] == {"accepted": 1, "proposed": 1, "rejected": 1}
    assert as_json["faces_per_image"] == {"0": 2, "2": 2, "4": 1}
    text = stats.format_text()
    assert "images: 5" in text and "faces (accepted boxes): 8 on 3 images" in text
    assert "detection runs: 2" in text and ">=200: 1" in text


def test_stats_of_an_empty_project(db_url: str) -> None:
    with Project.create(db_url) as project:
        stats = project_stats(project)
    assert (stats.images, stats.boxes, stats.faces) == (0, 0, 0)
    assert stats.faces_per_image == {} and set(stats.face_sizes.values()) == {0}
    assert "no images" in stats.format_text()


# -- WIDER FACE / COCO round trip -----------------------------------------------------------------

GT = """\
ev1/a.png
3
10 20 15 16 1 0 2 0 1 0
30 40 8 9 0 1 0 1 0 2
50 5 0 4 0 0 0 0 0 0
ev1/b.png
0
0 0 0 0 0 0 0 0 0 0
ev2/c.png
1
0.5 1.5 20.25 10 0 0 1 0 0 0
"""


@pytest.fixture
def wider_project(db_url: str, tmp_path: Path):
    """Four images; WIDER labels on three of them (so those are done), extra boxes that are no labels."""
    root = tmp_path / "images"
    for i, rel in enumerate(["ev1/a.png", "ev1/b.png", "ev2/c.png", "ev2/new.png"]):
        write_png(root / rel, 120, 100, i)
    gt = tmp_path / "gt.txt"
    gt.write_text(GT, encoding="utf-8")
    with Project.create(db_url) as project:
        import_images(project, root)
        report = import_labels(project, gt, "wider")
        assert (report.images, report.boxes) == (3, 4)
        ids = image_ids(project)
        create_box(project, ids["ev2/new.png"], (1, 1, 10, 10))  # an image still new: not exported by default
        rejected = create_box(project, ids["ev1/a.png"], (60, 60, 70, 70))
        set_box_state(project, rejected.id, rejected.version, "rejected")
        record_detections(project, {ids["ev2/c.png"]: ([[5, 5, 30, 30]], [0.7])})  # a proposal: no label
        yield project, gt, ids


def test_wider_export_reads_back_as_the_imported_file(wider_project, tmp_path: Path) -> None:
    project, gt, _ = wider_project
    out = tmp_path / "out" / "gt.txt"
    report = export_wider_gt(project, out)
    assert (report.images, report.boxes) == (3, 4)
    original, exported = wider.read_gt(gt), wider.read_gt(out)
    assert [r.name for r in exported] == [r.name for r in original]
    for mine, theirs in zip(exported, original):
        np.testing.assert_allclose(mine.boxes, theirs.boxes)
        np.testing.assert_array_equal(mine.attributes, theirs.attributes)


def test_wider_export_chooses_images_by_status_and_split(wider_project, tmp_path: Path) -> None:
    project, _, ids = wider_project
    export_wider_gt(project, tmp_path / "all.txt", statuses=None)
    by_name = {r.name: r for r in wider.read_gt(tmp_path / "all.txt")}
    assert sorted(by_name) == ["ev1/a.png", "ev1/b.png", "ev2/c.png", "ev2/new.png"]
    np.testing.assert_allclose(by_name["ev2/new.png"].boxes, [[1, 1, 10, 10]])
    export_wider_gt(project, tmp_path / "new.txt", statuses=["new"])
    assert [r.name for r in wider.read_gt(tmp_path / "new.txt")] == ["ev2/new.png"]
    set_split(project, [ids["ev1/b.png"], ids["ev2/new.png"]], "val")
    report = export(project, tmp_path / "val.txt", "wider", split="val")
    assert [r.name for r in wider.read_gt(tmp_path / "val.txt")] == ["ev1/b.png"]  # new.png is not done
    assert (report.images, report.boxes) == (1, 0)
    with pytest.raises(StoreError, match="review status"):
        export_wider_gt(project, tmp_path / "x.txt", statuses=["finished"])


def test_wider_invalid_column_follows_an_edited_ignore_flag(wider_project, tmp_path: Path) -> None:
    project, _, ids = wider_project
    first, second = boxes_of(project, ids["ev1/a.png"])[:2]  # invalid 0 / invalid 1 in the file
    update_box(project, first.id, first.version, ignore=True)
    update_box(project, second.id, second.version, ignore=False)
    export_wider_gt(project, tmp_path / "gt.txt")
    attrs = wider.read_gt(tmp_path / "gt.txt")[0].attributes
    assert attrs[0].tolist() == [1, 0, 2, 1, 1, 0] and attrs[1].tolist() == [0, 1, 0, 0, 0, 2]


def test_coco_export_reads_back_with_sizes_ignore_flags_and_attributes(wider_project, tmp_path: Path) -> None:
    project, gt, _ = wider_project
    out = tmp_path / "gt.json"
    report = export_coco(project, out)
    assert (report.images, report.boxes) == (3, 4)
    exported = coco.import_coco(out)
    original = [from_wider(r) for r in wider.read_gt(gt)]
    assert [a.name for a in exported] == [a.name for a in original]
    for mine, theirs in zip(exported, original):
        assert (mine.width, mine.height) == (120, 100)
        np.testing.assert_allclose(mine.boxes, theirs.boxes)
        np.testing.assert_array_equal(mine.ignore_or_false, theirs.ignore_or_false)
        if len(theirs.boxes):
            np.testing.assert_array_equal(mine.attributes, theirs.attributes)
    assert json.loads(out.read_text())["annotations"][1]["iscrowd"] == 1


def test_label_annotations_are_the_accepted_boxes_only(wider_project) -> None:
    project, _, _ = wider_project
    anns = {a.name: a for a in label_annotations(project)}
    assert sorted(anns) == ["ev1/a.png", "ev1/b.png", "ev2/c.png"]
    assert [len(a.boxes) for a in anns.values()] == [3, 0, 1]  # not the rejected box, not the proposal


# -- DARK FACE ------------------------------------------------------------------------------------


def test_darkface_export_reads_back_as_the_imported_folder(db_url: str, tmp_path: Path) -> None:
    root, labels = tmp_path / "image", tmp_path / "label"
    for i, stem in enumerate(["1", "2", "10", "11"]):
        write_png(root / f"{stem}.png", 200, 150, i)
    labels.mkdir()
    (labels / "1.txt").write_text("2\n10 20 30 40\n0 0 199 149\n")
    (labels / "2.txt").write_text("0\n")
    (labels / "10.txt").write_text("1\n5.5 6 7 8\n")
    with Project.create(db_url) as project:
        import_images(project, root)
        import_labels(project, labels, "darkface")
        report = export_darkface(project, tmp_path / "out")
        assert (report.images, report.boxes, report.warnings) == (3, 3, [])
        original, exported = darkface.read_labels_folder(labels), darkface.read_labels_folder(tmp_path / "out")
        assert list(exported) == ["1", "2", "10"]
        for stem in original:
            np.testing.assert_allclose(exported[stem], original[stem])
        set_review_status(project, image_ids(project)["11.png"], "done")
        with pytest.raises(StoreError, match="other .txt files"):  # a stale folder is refused ...
            export_darkface(project, tmp_path / "out", statuses=["new"])
        export_darkface(project, tmp_path / "out")  # ... the same export again is fine
        assert (tmp_path / "out" / "11.txt").read_text() == "0\n"  # done without faces: zero faces


def test_darkface_export_needs_unique_stems_and_warns_what_it_cannot_hold(wider_project, tmp_path: Path) -> None:
    project, _, ids = wider_project
    report = export_darkface(project, tmp_path / "out")
    assert report.boxes == 3  # the w = 0 box of a.png has no pixels
    assert any("without pixels" in w for w in report.warnings)
    assert any("ignored faces written as faces" in w for w in report.warnings)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt", "c.txt"]
    # a second image with the stem "a" in another folder
    write_png(tmp_path / "images" / "ev2" / "a.png", 120, 100, 99)
    import_images(project, tmp_path / "images")
    set_review_status(project, image_ids(project)["ev2/a.png"], "done")
    with pytest.raises(StoreError, match="ev1/a.png and ev2/a.png share the DARK FACE id 'a'"):
        export_darkface(project, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()  # checked before writing


# -- predictions ----------------------------------------------------------------------------------


def test_prediction_export_of_a_run_reads_back(wider_project, tmp_path: Path) -> None:
    project, _, ids = wider_project
    a, b, c = ids["ev1/a.png"], ids["ev1/b.png"], ids["ev2/c.png"]
    first = record_detections(project, {a: ([[10, 20, 29, 39], [0, 0, 9, 9], [50, 50, 60, 70]], [0.95, 0.25, 0.5]),
                                        b: ([], []), c: ([[1, 2, 40, 50]], [0.6])}, enhanced=True)
    boxes = {bx.score: bx for bx in boxes_of(project, a) if bx.detection_run_id == first}
    set_box_state(project, boxes[0.95].id, boxes[0.95].version, "accepted")
    set_box_state(project, boxes[0.25].id, boxes[0.25].version, "rejected")
    latest = record_detections(project, {a: ([[3, 4, 13, 24]], [0.8])}, enhanced=True, replace_proposed=False)

    report = export_wider_predictions(project, tmp_path / "latest")
    assert (report.run_id, report.images, report.boxes) == (latest, 1, 1)
    read = wider.read_predictions(tmp_path / "latest")
    assert list(read) == ["ev1/a"]
    np.testing.assert_allclose(read["ev1/a"][0], [[3, 4, 13, 24]])
    np.testing.assert_allclose(read["ev1/a"][1], [0.8])

    report = export_wider_predictions(project, tmp_path / "first", run_id=first)
    assert (report.images, report.boxes) == (3, 3)
    read = wider.read_predictions(tmp_path / "first")
    assert sorted(read) == ["ev1/a", "ev1/b", "ev2/c"]
    np.testing.assert_allclose(read["ev1/a"][0], [[10, 20, 29, 39], [50, 50, 60, 70]])  # not the rejected one
    np.testing.assert_allclose(read["ev1/a"][1], [0.95, 0.5])
    assert len(read["ev1/b"][0]) == 0  # covered by the run, nothing found: an empty file
    np.testing.assert_allclose(read["ev2/c"][0], [[1, 2, 40, 50]])

    set_review_status(project, c, "in_progress")  # default: done images only
    report = export_wider_predictions(project, tmp_path / "done", run_id=first)
    assert sorted(wider.read_predictions(tmp_path / "done")) == ["ev1/a", "ev1/b"]
    report = export_wider_predictions(project, tmp_path / "every", run_id=first, statuses=None)
    assert report.images == 3
    with pytest.raises(StoreError, match="no detection run with id 999"):
        export_wider_predictions(project, tmp_path / "x", run_id=999)


def test_prediction_export_needs_a_run(db_url: str, tmp_path: Path) -> None:
    with Project.create(db_url) as project:
        with pytest.raises(StoreError, match="no detection runs"):
            export_wider_predictions(project, tmp_path / "out")
        with pytest.raises(StoreError, match="only exported with the wider-predictions"):
            export(project, tmp_path / "gt.txt", "wider", run_id=1)
