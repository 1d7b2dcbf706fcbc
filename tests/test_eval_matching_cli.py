"""One-to-one AP@0.5, COCO AP@[.5:.95] (hand-computed), the PR plot and the ``eval`` command."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from srn.eval.curves import FP, IGNORED, TP
from srn.eval.matching import evaluate_ap50, evaluate_coco, iou_matrix

F1 = [0, 0, 9, 9]
FAR = [100, 100, 109, 109]


def arr(*boxes):
    return np.array(boxes, dtype=float).reshape(-1, 4)


def test_iou_inclusive_and_exclusive():
    assert iou_matrix(arr(F1), arr([5, 0, 14, 9]))[0, 0] == pytest.approx(50 / 150)
    # continuous convention: inter 4*9 = 36, union 81 + 81 - 36 = 126
    assert iou_matrix(arr(F1), arr([5, 0, 14, 9]), inclusive=False)[0, 0] == pytest.approx(36 / 126)


def test_ap50_moves_to_the_second_face():
    # F1, F2 = [2,0,11,9]; P1 = F1 (1.0) -> F1; P2 = [1,0,10,9] (.5): F1 taken, F2 IoU .818 -> TP.
    # ranked: TP, TP -> P 1, 1; R .5, 1 -> AP 1 (the official protocol gives 0.5 here)
    r = evaluate_ap50([arr(F1, [2, 0, 11, 9])], [(arr(F1, [1, 0, 10, 9]), np.array([1.0, 0.5]))])
    assert r.ap == pytest.approx(1.0)
    assert r.images[0].pred_gt.tolist() == [0, 1]


def test_ap50_duplicates_and_ties():
    # one face; X = F1, Y = [1,0,10,9] tie at .8 (stable: X first), Z far .4.
    # ranked X TP, Y FP (face taken, nothing else), Z FP: P 1, .5, 1/3; R 1, 1, 1 -> AP 1
    r = evaluate_ap50([arr(F1)], [(arr(F1, [1, 0, 10, 9], FAR), np.array([0.8, 0.8, 0.4]))])
    assert r.ap == pytest.approx(1.0)
    assert r.images[0].pred_status.tolist() == [TP, FP, FP]
    # 2 faces, ranked TP (.9), FP (.8), TP (.7): P 1, .5, 2/3; R .5, .5, 1 -> .5*1 + .5*2/3
    r = evaluate_ap50([arr(F1, FAR)], [(arr(F1, [300, 0, 309, 9], FAR), np.array([0.9, 0.8, 0.7]))])
    assert r.ap == pytest.approx(0.5 + 1 / 3)


def test_ap50_ignored_faces_and_empty_images():
    # image 1: F1 kept, FAR ignored; predictions on FAR (.9, ignored) and F1 (.5, TP).
    # image 2: no faces, one prediction (.7): FP. image 3: one face, no predictions (a miss).
    # ranked (ignored dropped): .7 FP, .5 TP -> P 0, .5; R 0, .5 -> AP .5 * .5 = 0.25
    gt = [arr(F1, FAR), arr(), arr(F1)]
    preds = [(arr(FAR, F1), np.array([0.9, 0.5])), (arr(F1), np.array([0.7])), (arr(), np.zeros(0))]
    r = evaluate_ap50(gt, preds, keep=[np.array([True, False]), None, None])
    assert r.num_faces == 2 and r.ap == pytest.approx(0.25)
    assert r.images[0].pred_status.tolist() == [IGNORED, TP]
    assert r.images[2].errors_at(0.0)[2].tolist() == [0]


def test_coco_iou_sweep_and_101_points():
    # one face, prediction [1,0,10,9]: IoU .818 >= .50 .. .80 (7 of 10 thresholds) -> AP 0.7
    r = evaluate_coco([arr(F1)], [(arr([1, 0, 10, 9]), np.array([0.9]))])
    # (precision is tp / (tp + fp + eps), as pycocotools: 1 - 1e-16)
    assert (r.ap == pytest.approx(0.7) and r.metrics["AP50"] == pytest.approx(1.0)
            and r.metrics["AP75"] == pytest.approx(1.0))
    # 2 faces, exact predictions ranked TP .9, FP .8, TP .7: precision made monotone 1, 2/3, 2/3,
    # recall .5, .5, 1; recall points 0 .. .50 (51) -> 1, .51 .. 1 (50) -> 2/3:
    # (51 + 50 * 2/3) / 101 = 0.834983 at every IoU threshold
    r = evaluate_coco([arr(F1, FAR)], [(arr(F1, [300, 0, 309, 9], FAR), np.array([0.9, 0.8, 0.7]))])
    assert r.ap == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert len(r.curves) == 10


def test_coco_max_dets_and_no_faces():
    r = evaluate_coco([arr(F1)], [(arr(FAR, F1), np.array([0.9, 0.1]))], max_dets=1)
    assert r.ap == 0.0 and r.images[0].pred_status.tolist() == [FP, IGNORED]
    assert np.isnan(evaluate_coco([arr()], [(arr(F1), np.array([1.0]))]).ap)


def test_plot_png(tmp_path):
    from srn.eval.official import evaluate_darkface
    from srn.eval.plot import write_pr_png

    r = evaluate_darkface({"a": arr(F1, FAR)}, {"a": (arr(F1, FAR), np.array([0.9, 0.5]))})
    out = write_pr_png(tmp_path / "pr.png", [r.curve, r.curve])
    img = cv2.imread(str(out))
    assert img.shape == (480, 640, 3) and (img != 255).any()
    assert not list(tmp_path.glob(".*.tmp"))


def _parser():
    from srn.commands.evaluate import add_parser

    parser = argparse.ArgumentParser(prog="srn")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_darkface(tmp_path, capsys):
    from srn.formats.darkface import write_label, write_submission

    write_label(tmp_path / "gt" / "1.txt", arr(F1, FAR))
    write_label(tmp_path / "gt" / "2.txt", arr())
    write_submission(tmp_path / "pred" / "1.txt", arr(F1, [1, 0, 10, 9], FAR, [300, 0, 309, 9]),
                     np.array([1.0, 0.75, 0.5, 0.0]))
    args = _parser().parse_args(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                                 "--plot", str(tmp_path / "pr.png"), "--json", str(tmp_path / "r.json")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "darkface: AP 0.8333" in out  # the duplicate-detection case, worked in test_eval_official
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["darkface"]["faces"] == 2 and len(data["darkface"]["curve"]["recall"]) == 1000
    assert (tmp_path / "pr.png").is_file()
    for proto in ("ap50", "coco"):
        args = _parser().parse_args(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                                     "--protocol", proto])
        assert args.func(args) == 0
    assert "ap50: AP 0.8333" in capsys.readouterr().out
    bad = _parser().parse_args(["eval", "--gt", str(tmp_path / "nope"), "--pred", str(tmp_path / "pred")])
    assert bad.func(bad) == 2


def test_cli_wider_mat(tmp_path, capsys):
    from scipy.io import savemat

    from srn.formats.wider import write_prediction

    gt = tmp_path / "gt"
    gt.mkdir()
    ev = np.empty((1, 1), dtype=object)
    ev[0, 0] = "0--Parade"
    files = np.empty((1, 1), dtype=object)
    inner = np.empty((1, 1), dtype=object)
    inner[0, 0] = "img_1"
    files[0, 0] = inner
    boxes = np.empty((1, 1), dtype=object)
    binner = np.empty((1, 1), dtype=object)
    binner[0, 0] = np.array([[0, 0, 10, 10], [20, 0, 10, 10]], dtype=float)
    boxes[0, 0] = binner
    savemat(gt / "wider_face_val.mat", {"event_list": ev, "file_list": files, "face_bbx_list": boxes})
    for setting, keep in (("easy", [1]), ("medium", [1]), ("hard", [1, 2])):
        gl = np.empty((1, 1), dtype=object)
        gin = np.empty((1, 1), dtype=object)
        gin[0, 0] = np.array(keep, dtype=float).reshape(-1, 1)
        gl[0, 0] = gin
        savemat(gt / f"wider_{setting}_val.mat", {"gt_list": gl})
    # the ignored-faces case of test_eval_official, written as inclusive x1 y1 x2 y2
    write_prediction(tmp_path / "pred", "0--Parade/img_1.jpg",
                     arr([20, 0, 29, 9], [0, 0, 9, 9], [80, 80, 89, 89]), np.array([1.0, 0.5, 0.0]))
    args = _parser().parse_args(["eval", "--gt", str(gt), "--pred", str(tmp_path / "pred"), "--protocol", "wider"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "easy: AP 1.0000" in out and "hard: AP 1.0000" in out
