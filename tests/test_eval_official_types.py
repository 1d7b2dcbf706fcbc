"""Evaluation equal to the official tools on files typed as the official ones (issue 22): WIDER's
int32 faces go through MATLAB's integer arithmetic, DARK FACE's default is the current tool.
The Octave comparisons run the official MATLAB code itself (``../shared/third_party/official_eval``)
and are skipped only where ``octave`` is missing (``.ci/run`` installs it)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from srn.commands import evaluate
from srn.eval.official import MatlabInteger, boxoverlap_integer, evaluate_wider, wider_corners_integer
from srn.formats.wider import read_mat_ground_truth, write_prediction

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import compare_official  # noqa: E402

INT32 = MatlabInteger("int32")
needs_octave = pytest.mark.skipif(shutil.which("octave") is None or not compare_official.DEFAULT_TOOLS.is_dir(),
                                  reason="octave or the official tools are not here")


def test_matlab_integer_rounding_saturation_and_division():
    assert INT32([2.5, -2.5, 3.49, np.nan]).tolist() == [3, -3, 3, 0]  # half away from zero; NaN -> 0
    assert INT32(2**31 + 5.0) == 2**31 - 1
    assert INT32.divide(np.array([7.0, 5.0, 0.0, -1.0]), np.array([2.0, 0.0, 0.0, 0.0])).tolist() == [
        4, 2**31 - 1, 0, -(2**31)]


def test_int32_faces_match_the_first_face_over_one_half_not_the_best():
    gt = wider_corners_integer(np.array([[0, 0, 20, 10], [0, 0, 10, 10]]), INT32)  # x y w h
    pred = np.array([[0.0, 0.0, 10.0, 10.0]])  # official corners of a 10 x 10 prediction
    o = boxoverlap_integer(gt, pred, INT32)
    assert o.tolist() == [[1.0, 1.0]]  # IoU 0.55 and 1.0 both become 1: max picks face 1
    # a second, far prediction: one lone score would normalise to NaN (0/0, as the WIDER tool does)
    preds = {"e/a": (np.array([[0.0, 0.0, 10.0, 10.0], [200.0, 200.0, 10.0, 10.0]]), np.array([0.9, 0.1]))}
    keep = {"x": [np.array([1])]}  # only the second (exact) face counts
    names, faces = ["e/a"], [np.array([[0, 0, 20, 10], [0, 0, 10, 10]], float)]
    official = evaluate_wider(names, faces, keep, preds, integer_class="int32")["x"]
    plain = evaluate_wider(names, faces, keep, preds)["x"]
    assert plain.ap == pytest.approx(1.0)  # float: the best face, the kept one, is recalled
    assert official.ap == 0.0  # MATLAB: the first face (not kept) takes the match: ignored


def test_int32_corners_round_the_prediction_where_they_meet():
    gt = wider_corners_integer(np.array([[10, 10, 10, 10]]), INT32)  # corners 10..20
    # a prediction from 10.4: max(10, 10.4) becomes 10 (int32), so the overlap is as for 10
    assert boxoverlap_integer(gt, np.array([[10.4, 10.0, 20.0, 20.0]]), INT32).tolist() == [[1.0]]
    # a 4-pixel-wide prediction: IoU (5*11)/(121+55-55) = 0.45 < 0.5 rounds to 0
    assert boxoverlap_integer(gt, np.array([[16.0, 10.0, 20.0, 20.0]]), INT32).tolist() == [[0.0]]


def _wider_folder(folder: Path, dtype) -> Path:
    folder.mkdir()

    def cells(items):
        out = np.empty((len(items), 1), dtype=object)
        for i, item in enumerate(items):
            out[i, 0] = item
        return out

    boxes = np.array([[0, 0, 20, 10], [0, 0, 10, 10]], dtype=dtype)
    savemat(folder / "wider_face_val.mat", {"event_list": cells(["0--Parade"]), "file_list": cells([cells(["img_1"])]),
                                            "face_bbx_list": cells([cells([boxes])])})
    for setting in ("easy", "medium", "hard"):
        savemat(folder / f"wider_{setting}_val.mat",
                {"gt_list": cells([cells([np.array([[2]], dtype=np.uint8)])])})
    return folder


def _cli(*argv) -> int:
    parser = argparse.ArgumentParser(prog="srn")
    evaluate.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *map(str, argv)])
    return args.func(args)


def test_the_cli_uses_the_files_types_and_float_on_request(tmp_path, capsys):
    gt = _wider_folder(tmp_path / "gt", np.int32)
    assert read_mat_ground_truth(gt / "wider_face_val.mat").integer_class == "int32"
    write_prediction(tmp_path / "pred", "0--Parade/img_1.jpg", np.array([[0.0, 0.0, 9.0, 9.0], [200, 200, 209, 209]]),
                     np.array([0.9, 0.1]))
    assert _cli("--gt", gt, "--pred", tmp_path / "pred", "--protocol", "wider") == 0
    assert "easy: AP 0.0000" in capsys.readouterr().out  # as the official tool: the first face wins
    assert _cli("--gt", gt, "--pred", tmp_path / "pred", "--protocol", "wider", "--semantics", "float") == 0
    out = capsys.readouterr().out
    assert "easy: AP 1.0000" in out and "float arithmetic" in out
    double = _wider_folder(tmp_path / "gt-double", np.float64)
    assert read_mat_ground_truth(double / "wider_face_val.mat").integer_class is None
    assert _cli("--gt", double, "--pred", tmp_path / "pred", "--protocol", "wider") == 0
    assert "easy: AP 1.0000" in capsys.readouterr().out  # double faces: MATLAB computes in double too


@needs_octave
@pytest.mark.slow
@pytest.mark.parametrize("gt_type", ["int32", "double"])
def test_wider_equals_the_official_tool_under_octave(gt_type):
    events = compare_official.random_wider_case(np.random.default_rng(3))
    with tempfile.TemporaryDirectory() as tmp:
        official = compare_official.run_official_wider(compare_official.DEFAULT_TOOLS / "wider", events, Path(tmp),
                                                       gt_type)
    ours = compare_official.ours_wider(events, gt_type)
    for setting in ("easy", "medium", "hard"):
        assert abs(ours[setting] - official[setting]) <= 1e-6, (setting, ours, official)


@needs_octave
@pytest.mark.slow
def test_darkface_equals_the_current_official_tool_under_octave():
    from srn.eval.official import evaluate_darkface

    rng = np.random.default_rng(4)
    for _ in range(2):
        labels, submissions = compare_official.random_case(rng)
        with tempfile.TemporaryDirectory() as tmp:
            official = compare_official.run_official(compare_official.DEFAULT_TOOLS / "darkface", labels,
                                                     submissions, Path(tmp))
        assert abs(evaluate_darkface(labels, submissions).ap - official) <= 1e-6
        april = evaluate_darkface(labels, submissions, box_rule="april-2019").ap
        assert abs(april - official) > 1e-6 or april == official  # the old rule is a different computation
