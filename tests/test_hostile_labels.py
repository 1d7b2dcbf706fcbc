"""Hostile label and prediction files: wrong values get ``file:line`` (or JSON path) errors, and
what ``srn detect`` writes is what ``srn eval`` reads, in every format.

Issue 20, items 7 (values), 12 (the commands chain; nothing matched is an error) and 13 (boxes
without pixels are scored as the official tools score them). Every file is made by the test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from srn.commands import convert, evaluate
from srn.formats import coco, darkface, wider
from srn.formats.errors import FormatError
from srn.formats.predictions import read_prediction_folder


def _cli(module, *argv) -> int:
    parser = argparse.ArgumentParser(prog="srn")
    module.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([("convert" if module is convert else "eval"), *map(str, argv)])
    return args.func(args)


def _coco(path: Path, annotation: dict | None = None, raw: str | None = None) -> Path:
    if raw is not None:
        path.write_text(raw)
        return path
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 5, 5], **(annotation or {})}],
        "categories": [{"id": 1, "name": "face"}]}))
    return path


# ------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize("line, message", [
    ("1e308 1 1e308 5 0 0 0 0 0 0", "expected coordinates and sizes within ±10,000,000"),
    ("1 1 5 5 99999999999999999999 0 0 0 0 0", r"expected non-negative integer attributes \(at most 2147483647\)"),
])
def test_wider_values_that_would_overflow_are_refused_with_their_line(tmp_path, line, message):
    gt = tmp_path / "gt.txt"
    gt.write_text(f"b.png\n1\n1 1 5 5 0 0 0 0 0 0\na.png\n1\n{line}\n")
    with pytest.raises(FormatError, match=rf"gt\.txt:6: {message}"):
        wider.read_gt(gt)


def test_darkface_huge_coordinates_are_refused(tmp_path):
    label = tmp_path / "1.txt"
    label.write_text("1\n1 1 1e308 5\n")
    with pytest.raises(FormatError, match=r"1\.txt:2: expected numbers within ±10,000,000"):
        darkface.read_label(label)


def test_a_utf8_bom_is_not_part_of_the_first_image_name(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_bytes(b"\xef\xbb\xbfa.png\n1\n1 1 5 5 0 0 0 0 0 0\n")
    assert [r.name for r in wider.read_gt(gt)] == ["a.png"]


@pytest.mark.parametrize("annotation, raw, message", [
    ({"attributes": {"blur": -3}}, None, r"annotations\[0\]\.attributes: expected non-negative integer"),
    ({"iscrowd": "no"}, None, r"annotations\[0\]\.iscrowd: expected 0 or 1, found \"no\""),
    ({"bbox": [10**400, 2, 5, 5]}, None, r"annotations\[0\]\.bbox: expected 4 numbers"),
    (None, "[" * 200000 + "]" * 200000, "nested too deeply"),
])
def test_coco_values_get_json_path_errors(tmp_path, annotation, raw, message):
    path = _coco(tmp_path / "in.json", annotation, raw)
    with pytest.raises(FormatError, match=message):
        coco.import_coco(path, ground_truth_only=True)


def test_a_coco_results_list_is_not_imported_as_ground_truth(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 5, 5], "score": 0.9}]))
    assert _cli(convert, "--from", "coco", "--to", "darkface", results, tmp_path / "out") == 1
    assert "is a COCO results list (detections with scores), not ground truth" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_empty_label_file_is_an_error_not_an_empty_success(tmp_path, capsys):
    empty = tmp_path / "gt.txt"
    empty.write_text("")
    assert _cli(convert, "--from", "wider", "--to", "coco", empty, tmp_path / "out.json") == 1
    assert "no annotated images in it" in capsys.readouterr().err

    from app.store import Project, import_labels

    with Project.create(tmp_path / "p.db") as project, pytest.raises(FormatError, match="no annotated images"):
        import_labels(project, empty, "wider")

    (tmp_path / "preds").mkdir()
    assert _cli(evaluate, "--gt", empty, "--pred", tmp_path / "preds", "--protocol", "ap50") == 2
    assert "no annotated images in it" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ eval


@pytest.fixture
def labelled(tmp_path):
    """Three DARK FACE-style images (ids 1..3) with labels, and the same faces as predictions."""
    images, labels = tmp_path / "images", tmp_path / "label"
    images.mkdir()
    labels.mkdir()
    faces = {"1": [[10, 10, 29, 29]], "2": [[40, 20, 59, 49], [5, 5, 20, 20]], "3": [[60, 30, 79, 49]]}
    for stem, boxes in faces.items():
        cv2.imwrite(str(images / f"{stem}.png"), np.zeros((60, 100, 3), np.uint8))
        darkface.write_label(labels / f"{stem}.txt", np.array(boxes, np.float64))
    return tmp_path, faces


def _write_preds(root: Path, fmt: str, faces: dict, extra=None) -> Path:
    out = root / f"pred-{fmt}"
    records = []
    for stem, boxes in faces.items():
        s = np.linspace(0.9, 0.5, len(boxes))
        if extra and stem == "1":
            boxes, s = boxes + [extra], np.append(s, 0.1)  # the lowest score: ranked after every hit
        b = np.array(boxes, np.float64).reshape(-1, 4)
        if fmt == "wider":
            wider.write_prediction(out, f"{stem}.png", b, s)
        elif fmt == "darkface":
            darkface.write_submission(out / f"{stem}.txt", b, s)
        else:
            records.append({"file": f"{stem}.png", "height": 60, "width": 100,
                            "boxes": [[*map(float, bb), float(ss)] for bb, ss in zip(b, s)]})
    if fmt == "json":
        out.mkdir()
        (out / "detections.json").write_text(json.dumps({"images": records}))
    return out


@pytest.mark.parametrize("fmt", ["wider", "darkface", "json"])
@pytest.mark.parametrize("protocol", ["darkface", "ap50"])
def test_eval_reads_what_detect_writes_in_every_format(labelled, capsys, fmt, protocol):
    root, faces = labelled
    preds = _write_preds(root, fmt, faces)
    assert read_prediction_folder(preds).kind == fmt
    assert _cli(evaluate, "--gt", root / "label", "--pred", preds, "--protocol", protocol) == 0
    assert f"{protocol}: AP 1.0000" in capsys.readouterr().out


def test_eval_with_no_matching_predictions_is_an_error(labelled, capsys):
    root, _ = labelled
    other = root / "other"
    other.mkdir()
    (other / "detections.json").write_text(json.dumps({"images": [{"file": "zzz.png", "boxes": []}]}))
    assert _cli(evaluate, "--gt", root / "label", "--pred", other) == 1
    err = capsys.readouterr().err
    assert "no predictions for any of the 3 ground-truth images" in err and "'zzz'" in err


def test_boxes_without_pixels_are_scored_as_the_official_tool_does(labelled, capsys):
    root, faces = labelled
    preds = _write_preds(root, "darkface", faces, extra=[50, 50, 40, 60])  # x2 < x1: no pixels
    assert _cli(evaluate, "--gt", root / "label", "--pred", preds, "--protocol", "ap50") == 0
    out = capsys.readouterr().out
    assert "ap50: AP 1.0000" in out and "(3 images, 4 faces, 5 predictions)" in out
    assert "1 predicted boxes have no pixels" in out

    assert _cli(evaluate, "--gt", root / "label", "--pred", preds, "--refuse-empty-boxes") == 2
    assert "1.txt:2: inverted box" in capsys.readouterr().err


def test_eval_help_has_no_markup():
    done = subprocess.run([sys.executable, "-m", "srn", "eval", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "``" not in done.stdout and "--refuse-empty-boxes" in done.stdout


def test_eval_json_into_an_unwritable_place_is_a_message(labelled, capsys):
    root, faces = labelled
    preds = _write_preds(root, "darkface", faces)
    blocker = root / "file"
    blocker.write_text("x")
    assert _cli(evaluate, "--gt", root / "label", "--pred", preds, "--json", blocker / "out.json") == 2
    captured = capsys.readouterr()
    assert "darkface: AP" in captured.out and "srn eval: cannot write" in captured.err


def _crowd(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` small faces in a 1080×720 image and, for each, a predicted box shifted a little."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1050, (n, 2)) * [1, 690 / 1050]
    size = rng.uniform(8, 30, (n, 1))
    gt = np.hstack([xy, xy + size]).round(1)
    pred = gt + rng.normal(0, 2, gt.shape)
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
    return gt, pred


def test_blocked_matching_gives_the_same_numbers_as_the_full_matrix(monkeypatch):
    from srn.eval import matching, official

    images = [_crowd(n, seed) for seed, n in enumerate((40, 1, 0, 25))]
    gt = [g for g, _ in images]
    preds = [(p, np.random.default_rng(9).uniform(0, 1, len(p))) for _, p in images]

    def everything():
        ap50 = matching.evaluate_ap50(gt, preds)
        cocos = matching.evaluate_coco(gt, preds)
        offi = [official.image_evaluation(g, p[np.argsort(-s)]) for g, (p, s) in zip(gt, preds)]
        return ap50, cocos, offi

    full = everything()
    monkeypatch.setattr(matching, "DENSE_CELLS", 7)  # a handful of cells: every image goes in blocks
    monkeypatch.setattr(official, "DENSE_CELLS", 7)
    blocked = everything()
    assert blocked[0].ap == full[0].ap and blocked[1].ap == full[1].ap
    for a, b in zip(full[0].images + full[1].images, blocked[0].images + blocked[1].images):
        assert np.array_equal(a.pred_status, b.pred_status) and np.array_equal(a.pred_gt, b.pred_gt)
        assert np.array_equal(a.pred_iou, b.pred_iou)
    for a, b in zip(full[2], blocked[2]):
        assert np.array_equal(a.status, b.status) and np.array_equal(a.best_iou, b.best_iou)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["darkface", "ap50"])
def test_eval_of_12k_by_12k_boxes_in_one_image_fits_in_little_memory(tmp_path, protocol):
    """The full IoU matrix would be 1.2 GB, its temporaries several times that (30k × 30k: 7.2 GB)."""
    import resource

    gt, pred = _crowd(12_000, 1)
    darkface.write_label(tmp_path / "label" / "1.txt", gt)
    darkface.write_submission(tmp_path / "pred" / "1.txt", pred, np.linspace(1, 0.01, len(pred)))
    limit = 1536 << 20

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "srn", "eval", "--gt", str(tmp_path / "label"), "--pred",
                           str(tmp_path / "pred"), "--protocol", protocol], capture_output=True, text=True,
                          preexec_fn=cap, timeout=600)
    assert done.returncode == 0, done.stderr
    ap = float(done.stdout.split("AP ")[1].split()[0])
    assert ap > 0.5, done.stdout
