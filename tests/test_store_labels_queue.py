"""Label import (all or nothing), detection runs, model versions and the review-queue orders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select

from app.store import (
    NotFoundError,
    Project,
    StoreError,
    assign,
    boxes_of,
    delete_box,
    import_images,
    import_labels,
    model_versions,
    move_box,
    record_detections,
    register_model,
    review_queue,
    run_image_ids,
    set_box_state,
    set_review_status,
)
from app.store.detections import sha256_file
from app.store.queue import unmatched_count
from app.store.tables import Box, DetectionRun, Image
from srn.formats import darkface, wider
from srn.formats.errors import FormatError


def _settings(project, run_id: int) -> dict:
    with project.read() as s:
        return dict(s.get(DetectionRun, run_id).settings)


@pytest.fixture
def project(db_url, tmp_path, write_images):
    write_images(tmp_path / "data" / "images", ["0--Parade/p1.jpg", "0--Parade/p2.jpg", "1--Handshaking/h1.jpg"])
    with Project.create(db_url, author="ann") as p:
        import_images(p, tmp_path / "data")  # root is data/, so rel paths start with images/
        yield p


def ids(project) -> dict[str, int]:
    with project.read() as s:
        return {r.rel_path.split("/")[-1]: r.id for r in s.execute(select(Image.id, Image.rel_path))}


def box_total(project) -> int:
    with project.read() as s:
        return s.scalar(select(func.count()).select_from(Box))


WIDER = """0--Parade/p1.jpg
2
10 10 20 30 1 0 0 0 2 0
50 40 10 10 0 0 0 1 0 0
0--Parade/p2.jpg
0
0 0 0 0 0 0 0 0 0 0
1--Handshaking/h1.jpg
1
150 100 20 30 0 0 0 0 0 0
"""


def test_wider_labels_match_by_trailing_path_with_attributes_and_clipping(project, tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text(WIDER)
    report = import_labels(project, gt, "wider")
    assert (report.images, report.boxes) == (3, 3)
    assert report.warnings and f"{gt}:10:" in report.warnings[0] and "clipped" in report.warnings[0]
    i = ids(project)
    p1 = boxes_of(project, i["p1.jpg"])
    assert [b.xyxy for b in p1] == [(10, 10, 29, 39), (50, 40, 59, 49)]
    assert (p1[0].blur, p1[0].occlusion, p1[0].ignore) == (1, 2, False)
    assert p1[1].ignore and p1[1].invalid == 1  # WIDER's invalid faces are ignored ones
    assert [b.xyxy for b in boxes_of(project, i["h1.jpg"])] == [(150, 100, 159, 119)]  # clipped to 160x120
    assert {b.source for b in p1} == {"imported"} and {b.state for b in p1} == {"accepted"}
    with project.read() as s:
        assert set(s.scalars(select(Image.status))) == {"done"}


def test_reimport_replaces_untouched_imported_boxes_but_keeps_edited_ones(project, tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text(WIDER)
    import_labels(project, gt, "wider")
    p1 = ids(project)["p1.jpg"]
    edited = boxes_of(project, p1)[0]
    move_box(project, edited.id, edited.version, (11, 11, 30, 40))
    report = import_labels(project, gt, "wider")
    assert report.replaced == 2  # the untouched second p1 box and the h1 box
    assert report.kept_edited == 1  # the file's copy of the moved face is not added again
    kept = boxes_of(project, p1)
    assert len(kept) == 2 and kept[0].id == edited.id and kept[0].xyxy == (11, 11, 30, 40)


def test_reimport_after_edits_never_duplicates_nor_resurrects(project, tmp_path):
    """Issue 20 item 6: move one face, reject one, delete one, re-import the same file: each face
    is there once, as the person left it (before: 13 accepted boxes on a 12-face image)."""
    faces = [(20 * k, 5, 12, 12) for k in range(6)] + [(20 * k, 60, 12, 12) for k in range(6)]
    gt = tmp_path / "gt12.txt"
    gt.write_text("p1.jpg\n12\n" + "".join(f"{x} {y} {w} {h} 0 0 0 0 0 0\n" for x, y, w, h in faces))
    import_labels(project, gt, "wider", allow_unmatched=True)
    p1 = ids(project)["p1.jpg"]
    first, second, third = boxes_of(project, p1)[:3]
    moved = move_box(project, first.id, first.version, (first.x1 + 3, first.y1 + 2, first.x2 + 3, first.y2 + 2))
    moved = move_box(project, moved.id, moved.version, (moved.x1 + 1, moved.y1, moved.x2 + 1, moved.y2))
    set_box_state(project, second.id, second.version, "rejected")
    delete_box(project, third.id, third.version)

    report = import_labels(project, gt, "wider", allow_unmatched=True)
    assert report.kept_edited == 3 and report.boxes == 9
    now = boxes_of(project, p1, states=None)
    assert len(now) == 12
    assert sorted(b.state for b in now).count("accepted") == 10
    assert {b.id: b.state for b in now if b.state != "accepted"} == {second.id: "rejected", third.id: "deleted"}
    assert [b.xyxy for b in now if b.id == first.id] == [(first.x1 + 4, first.y1 + 2, first.x2 + 4, first.y2 + 2)]


def test_malformed_or_unmatched_labels_import_nothing(project, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(WIDER.replace("50 40 10 10 0 0 0 1 0 0", "50 40 ten 10 0 0 0 1 0 0"))
    with pytest.raises(FormatError, match=rf"{bad}:4:"):
        import_labels(project, bad, "wider")
    unknown = tmp_path / "unknown.txt"
    unknown.write_text(WIDER + "9--Nowhere/x.jpg\n1\n1 1 5 5 0 0 0 0 0 0\n")
    with pytest.raises(FormatError, match=r"no image '9--Nowhere/x.jpg' in the project"):
        import_labels(project, unknown, "wider")
    assert box_total(project) == 0
    report = import_labels(project, unknown, "wider", allow_unmatched=True)
    assert report.unmatched == ["9--Nowhere/x.jpg"] and report.boxes == 3


def test_darkface_and_coco_labels(project, tmp_path):
    i = ids(project)
    folder = tmp_path / "label"
    darkface.write_labels_folder(folder, {"p2": np.array([[1, 2, 30, 40]], float)})
    assert import_labels(project, folder, "darkface").boxes == 1
    assert [b.xyxy for b in boxes_of(project, i["p2.jpg"])] == [(1, 2, 30, 40)]
    coco = {"images": [{"id": 7, "file_name": "1--Handshaking/h1.jpg", "width": 160, "height": 120}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [5, 6, 10, 20], "iscrowd": 0}],
            "categories": [{"id": 1, "name": "face"}]}
    (tmp_path / "c.json").write_text(json.dumps(coco))
    import_labels(project, tmp_path / "c.json", "coco")
    assert [b.xyxy for b in boxes_of(project, i["h1.jpg"])] == [(5, 6, 14, 25)]
    coco["images"][0]["width"] = 640
    (tmp_path / "c2.json").write_text(json.dumps(coco))
    with pytest.raises(FormatError, match="is 640x120 but the image is 160x120"):
        import_labels(project, tmp_path / "c2.json", "coco")


def test_ambiguous_names_are_refused(db_url, tmp_path, write_images):
    write_images(tmp_path / "imgs", ["a/x.png", "b/x.png"])
    with Project.create(db_url) as p:
        import_images(p, tmp_path / "imgs")
        gt = tmp_path / "gt.txt"
        wider.write_gt(gt, [wider.WiderRecord("x.png", np.array([[1, 1, 5, 5]], float))])
        with pytest.raises(FormatError, match="matches 2 images"):
            import_labels(p, gt, "wider")


def test_detection_runs_replace_untouched_proposals_of_the_same_kind(project):
    i = ids(project)
    p1 = i["p1.jpg"]
    raw = record_detections(project, {p1: (np.array([[1, 1, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.3]))})
    enh = record_detections(project, {p1: (np.array([[2, 2, 11, 11]]), np.array([0.8]))}, enhanced=True)
    touched = boxes_of(project, p1)[0]
    move_box(project, touched.id, touched.version, (1, 1, 12, 12))  # a person adjusted it
    raw2 = record_detections(project, {p1: (np.array([[100, 100, 400, 400]]), np.array([0.7]))})
    by_run = {}
    for b in boxes_of(project, p1):
        by_run.setdefault(b.detection_run_id, []).append(b.xyxy)
    assert by_run == {raw: [(1, 1, 12, 12)], enh: [(2, 2, 11, 11)], raw2: [(100, 100, 159, 119)]}  # clipped
    assert run_image_ids(project, raw2) == [p1] and "image_ids" not in _settings(project, raw2)
    with pytest.raises(NotFoundError, match="no image with id 999"):
        record_detections(project, {999: (np.zeros((1, 4)), np.ones(1))})
    with pytest.raises(StoreError, match="2 boxes but 1 scores"):
        record_detections(project, {p1: (np.zeros((2, 4)), np.ones(1))})


def test_model_versions_record_checkpoint_hashes(project, tmp_path):
    ckpt = tmp_path / "srn.pth"
    ckpt.write_bytes(b"weights" * 100)
    base = register_model(project, "wider-r50", ckpt, metrics={"ap": 0.5})
    child = register_model(project, "finetune-1", ckpt, parent_id=base.id)
    assert base.checkpoint_sha256 == sha256_file(ckpt) and child.parent_id == base.id
    assert [m.name for m in model_versions(project)] == ["wider-r50", "finetune-1"]
    with pytest.raises(StoreError, match="already exists"):
        register_model(project, "wider-r50", ckpt)
    with pytest.raises(NotFoundError, match="no such checkpoint"):
        register_model(project, "x", tmp_path / "missing.pth")
    run = record_detections(project, {ids(project)["p1.jpg"]: (np.array([[1, 1, 9, 9]]), np.array([0.5]))},
                            model_version_id=child.id)
    assert boxes_of(project, ids(project)["p1.jpg"])[0].model_version_id == child.id and run


def test_unmatched_count_is_a_greedy_one_to_one_matching():
    a = np.array([[0, 0, 9, 9], [20, 20, 29, 29], [50, 50, 59, 59]], float)
    b = np.array([[1, 1, 10, 10], [21, 21, 30, 30]], float)
    assert unmatched_count(a, b) == 1
    assert unmatched_count(a, b[:0]) == 3
    assert unmatched_count(a[:1], np.array([[0, 0, 9, 9], [0, 0, 9, 9]], float)) == 1  # one partner each


def test_review_queue_orders(project):
    i = ids(project)
    p1, p2, h1 = i["p1.jpg"], i["p2.jpg"], i["h1.jpg"]
    set_review_status(project, p1, "done")
    set_review_status(project, h1, "in_progress")
    assert [q.image_id for q in review_queue(project, "unreviewed")] == [p2, h1, p1]
    assert [q.image_id for q in review_queue(project, "path")] == [p1, p2, h1]

    record_detections(project, {p1: (np.array([[1, 1, 10, 10]]), np.array([0.52])),
                                p2: (np.array([[1, 1, 10, 10]]), np.array([0.95]))})
    low = review_queue(project, "lowest_confidence")
    assert [q.image_id for q in low] == [p1, p2, h1]
    assert low[0].key == pytest.approx(0.02) and low[2].key is None

    # raw vs enhanced: p2 agrees, h1 has three faces only the enhanced run found; p1 was not enhanced
    record_detections(project, {p2: (np.array([[1, 1, 10, 10]]), np.array([0.9])),
                                h1: (np.zeros((0, 4)), np.zeros(0))})
    record_detections(project, {p2: (np.array([[1, 1, 10, 10]]), np.array([0.9])),
                                h1: (np.array([[1, 1, 9, 9], [20, 20, 29, 29], [40, 40, 49, 49]]), np.full(3, 0.8))},
                      enhanced=True)
    dis = review_queue(project, "disagreement")
    assert [(q.image_id, q.key) for q in dis] == [(h1, 3.0), (p2, 0.0)]

    assign(project, [p2, h1], "bob")
    assert [q.image_id for q in review_queue(project, "unreviewed", assignee="bob")] == [p2, h1]
    assert [q.image_id for q in review_queue(project, "unreviewed", statuses=["new"])] == [p2]
    assert len(review_queue(project, "path", limit=2)) == 2
    with pytest.raises(StoreError, match="queue order must be one of"):
        review_queue(project, "random")


def test_a_run_filled_image_by_image(project):
    from app.store import add_detections, start_detection_run

    i = ids(project)
    run = start_detection_run(project, enhanced=True, settings={"mode": "single"})
    assert add_detections(project, run, {i["p1.jpg"]: (np.array([[1, 1, 9, 9]]), np.array([0.9]))}) == 1
    assert add_detections(project, run, {i["p2.jpg"]: (np.zeros((0, 4)), np.zeros(0))}) == 0
    assert _settings(project, run) == {"mode": "single"}
    assert run_image_ids(project, run) == sorted([i["p1.jpg"], i["p2.jpg"]])  # p2: covered, nothing found
    with pytest.raises(NotFoundError, match="no detection run with id 999"):
        add_detections(project, 999, {i["p1.jpg"]: (np.zeros((0, 4)), np.zeros(0))})


def test_natural_key_orders_paths_as_a_file_manager_lists_them() -> None:
    from app.store.queue import natural_key

    names = ["10.png", "2.png", "1.png", "B.png", "a.png", "a10b2.png", "a10b10.png", "a2.png", "x/10.png",
             "x/9.jpg", "x.png", "IMG_0100.jpg", "img_99.jpg"]
    assert sorted(names, key=natural_key) == ["1.png", "2.png", "10.png", "a.png", "a2.png", "a10b2.png",
                                              "a10b10.png", "B.png", "img_99.jpg", "IMG_0100.jpg", "x.png",
                                              "x/9.jpg", "x/10.png"]
