"""The official WIDER FACE / DARK FACE protocol on tiny cases, each worked out by hand from the
rules of the official MATLAB/Octave code (see srn/eval/official.py). Notation: thresholds are
th(t) = 1 - t/1000 for t = 1..1000; a normalised score s counts at t when s >= th(t)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srn.eval.curves import DUP, FP, IGNORED, TP, voc_ap
from srn.eval.official import (
    OfficialImage,
    boxoverlap,
    darkface_corners,
    evaluate_darkface,
    evaluate_official,
    evaluate_wider,
    image_evaluation,
    normalize_scores,
    official_thresholds,
    wider_corners,
)

F1 = [0, 0, 9, 9]  # 10 x 10 inclusive
FAR = [100, 100, 109, 109]


def df(labels, subs, **kw):
    """DARK FACE protocol with true boxes (the current tool's rule), so the IoUs below are the plain ones."""
    labels = {k: np.array(v, dtype=float).reshape(-1, 4) for k, v in labels.items()}
    subs = {k: (np.array(b, dtype=float).reshape(-1, 4), np.array(s, dtype=float)) for k, (b, s) in subs.items()}
    return evaluate_darkface(labels, subs, **kw)


# --------------------------------------------------------------------------- conventions, pinned


def test_thresholds_run_from_0_999_down_to_0():
    th = official_thresholds()
    assert len(th) == 1000 and th[0] == 0.999 and th[-1] == 0.0
    assert th[699] == 1 - 0.7 == 0.30000000000000004  # double arithmetic, as MATLAB


def test_boxoverlap_uses_inclusive_plus_one():
    # [0,0,9,9] vs [5,0,14,9]: inter 5*10 = 50, areas 10*10 = 100 -> 50/150
    assert boxoverlap([F1], [[5, 0, 14, 9]])[0, 0] == pytest.approx(1 / 3)
    # touching edges share one pixel column: [0,0,9,9] vs [9,0,18,9]: inter 1*10, union 190
    assert boxoverlap([F1], [[9, 0, 18, 9]])[0, 0] == pytest.approx(10 / 190)
    assert boxoverlap([F1], [[10, 0, 19, 9]])[0, 0] == 0.0


def test_wider_conversion_is_x_plus_w_then_plus_one_in_iou():
    # xywh [0,0,10,10] -> corners [0,0,10,10] (11 px wide for boxoverlap), [5,0,10,10] -> [5,0,15,10]
    a, b = wider_corners([[0, 0, 10, 10], [5, 0, 10, 10]])
    assert a.tolist() == [0, 0, 10, 10] and b.tolist() == [5, 0, 15, 10]
    # inter (10-5+1)*11 = 66, union 121 + 121 - 66 = 176 -> 0.375 (true inclusive IoU would be 1/3)
    assert boxoverlap([a], [b])[0, 0] == pytest.approx(0.375)


def test_the_april_2019_darkface_rule_adds_x1_to_x2():
    # The April 2019 DARK FACE tool added x1 to column 3 of x1 y1 x2 y2 boxes: [10,10,19,19] -> [10,10,29,29]
    a, b = darkface_corners([[10, 10, 19, 19], [12, 10, 21, 19]], box_rule="april-2019")
    assert a.tolist() == [10, 10, 29, 29] and b.tolist() == [12, 10, 33, 29]
    # quirk IoU: inter 18*20 = 360, union 400 + 440 - 360 = 480 -> 0.75; true IoU 80/120 = 0.667
    assert boxoverlap([a], [b])[0, 0] == pytest.approx(0.75)
    t = darkface_corners([[10, 10, 19, 19], [12, 10, 21, 19]])  # the current tool: boxes as they are
    assert boxoverlap(t[:1], t[1:])[0, 0] == pytest.approx(2 / 3)


def test_iou_exactly_half_counts():
    # [0,0,9,9] vs [0,0,19,9]: inter 100, union 200 -> IoU 0.5 >= 0.5: recalled
    ev = image_evaluation(np.array([[0, 0, 19, 9]], float), np.array([F1], float))
    assert ev.best_iou[0] == 0.5 and ev.status[0] == TP


def test_normalisation_numbers():
    assert normalize_scores([[2.0, 4.0], [6.0]])[0].tolist() == [0.0, 0.5]
    # min-max over the whole submission; computed in float32 (realmin/realmax('single') start values)
    assert normalize_scores([[0.0, 0.3, 1.0]])[0][1] == 0.30000001192092896  # float32(0.3)
    # all negative: max clamps at realmin('single') ~ 1.18e-38, so -2 -> (-2 + 4) / 4 = 0.5, not 1
    assert normalize_scores([[-4.0, -2.0]])[0].tolist() == [0.0, 0.5]
    # equal scores: WIDER divides 0/0 (NaN); DARK FACE uses score - (min - 1) = 1
    assert np.isnan(normalize_scores([[3.0, 3.0]], "wider")[0]).all()
    assert normalize_scores([[3.0], [3.0]], "darkface")[1].tolist() == [1.0]
    assert normalize_scores([[], [1.0, 5.0]])[0].size == 0


def test_float32_scores_cross_thresholds_as_in_matlab():
    # raw scores 0, 0.3 (on the face), 1 (far): 0.3 normalises to float32(0.3) = 0.3000000119 >=
    # th(700) = 0.30000000000000004, so the face is recalled from t = 700 on (t = 701 in doubles).
    r = df({"a": [F1]}, {"a": ([FAR, F1, [200, 200, 209, 209]], [1.0, 0.3, 0.0])})
    rec = r.curve.recall
    assert rec[698] == 0.0 and rec[699] == 1.0


def test_voc_ap_ignores_nan_precision_like_matlab_max():
    # mrec = [0 0 1 1], mpre = [0 NaN 1 0] -> backwards max: [1 1 1 0]; one recall step 0 -> 1 at
    # precision 1: AP = 1
    assert voc_ap([0.0, 1.0], [np.nan, 1.0]) == 1.0
    # recall .5 then 1, precision 1 then 2/3: .5*1 + .5*(2/3)
    assert voc_ap([0.5, 1.0], [1.0, 2 / 3]) == pytest.approx(0.5 + 1 / 3)


# --------------------------------------------------------------------------- tiny datasets


def test_perfect_detections():
    # 2 faces, 2 exact predictions, raw scores .9 and .5 -> normalised 1 and 0.
    # t = 1..999: only the 1.0 counts: proposals 1, recalled 1 -> P 1, R .5
    # t = 1000 (th 0): both: P 1, R 1.  VOCap: .5*1 + .5*1 = 1
    r = df({"a": [F1, FAR]}, {"a": ([F1, FAR], [0.9, 0.5])})
    assert r.ap == pytest.approx(1.0)
    assert r.curve.recall[998] == 0.5 and r.curve.recall[999] == 1.0
    assert (r.curve.precision == 1).all()


def test_all_wrong():
    # every prediction misses: recalled 0 at every threshold, P = 0, R = 0 -> VOCap: one step 0 -> 1
    # (the appended point) at precision 0: AP = 0
    r = df({"a": [F1]}, {"a": ([FAR, [50, 50, 59, 59]], [1.0, 0.0])})
    assert r.ap == 0.0 and (r.curve.precision == 0).all()
    assert r.images[0].pred_status.tolist() == [FP, FP]


def test_duplicate_detection_stays_a_proposal():
    # faces F1, F2=FAR. A on F1 (1.0), B on F1 again (.75), C on F2 (.5), D nowhere (0); raw = normalised.
    # t 1..249: {A}: prop 1, rec 1 -> P 1, R .5
    # t 250..499: {A,B}: B's best face F1 is recalled already: prop 2, rec 1 -> P .5, R .5
    # t 500..999: {A,B,C}: prop 3, rec 2 -> P 2/3, R 1;  t 1000: + D: prop 4 -> P .5, R 1
    # VOCap: step 0 -> .5 at max(P to the right) = 1; step .5 -> 1 at max(2/3, .5, 0) = 2/3
    # AP = .5 + .5 * 2/3 = 0.833333
    b = [0, 1, 9, 10]  # IoU with F1: 9*10 / (200 - 90) = 0.818
    r = df({"a": [F1, FAR]}, {"a": ([F1, b, FAR, [300, 0, 309, 9]], [1.0, 0.75, 0.5, 0.0])})
    assert r.ap == pytest.approx(0.5 + 1 / 3)
    assert r.curve.precision[249] == 0.5 and r.curve.precision[499] == pytest.approx(2 / 3)
    assert r.images[0].pred_status.tolist() == [TP, DUP, TP, FP]


def test_detection_overlapping_two_faces_does_not_move_on():
    # F1 = [0,0,9,9], F2 = [2,0,11,9]. P1 = F1 (1.0): best F1 (IoU 1) -> recalled.
    # P2 = [1,0,10,9] (raw .5 -> 0): IoU .818 with both; MATLAB max picks the first, F1, already
    # recalled -> no recall, still a proposal; it never tries F2.
    # t < 1000: P 1, R .5;  t 1000: prop 2, rec 1 -> P .5, R .5.  VOCap: .5 * 1 + .5 * 0 = 0.5
    r = df({"a": [F1, [2, 0, 11, 9]]}, {"a": ([F1, [1, 0, 10, 9]], [1.0, 0.5])})
    assert r.ap == pytest.approx(0.5)
    img = r.images[0]
    assert img.pred_gt.tolist() == [0, 0] and img.pred_status.tolist() == [TP, DUP]
    tp, fp, fn = img.errors_at(0.0)
    assert tp.tolist() == [0] and fp.tolist() == [1] and fn.tolist() == [1]


def test_ties_in_score_count_together_and_keep_file_order():
    # one face; X = F1 and Y = [1,0,10,9] (IoU .818) both raw .8 -> 1; Z far raw .4 -> 0.
    # sorted stably: X (TP), Y (DUP), Z. t < 1000: both tied count: prop 2, rec 1 -> P .5, R 1
    # t 1000: prop 3 -> P 1/3.  VOCap: 1 * max(.5, 1/3, 0) = 0.5
    r = df({"a": [F1]}, {"a": ([F1, [1, 0, 10, 9], FAR], [0.8, 0.8, 0.4])})
    assert r.ap == pytest.approx(0.5)
    assert r.images[0].pred_status.tolist() == [TP, DUP, FP]
    # the same boxes with Y first in the file: Y becomes the TP
    r2 = df({"a": [F1]}, {"a": ([[1, 0, 10, 9], F1, FAR], [0.8, 0.8, 0.4])})
    assert r2.images[0].pred_status.tolist() == [TP, DUP, FP] and r2.ap == pytest.approx(0.5)


def test_empty_images_and_images_without_predictions():
    # a: 1 face, prediction on it raw .5; b: no face, predictions raw 1.0 and 0.0 (far);
    # c: 1 face, no prediction file. Normalised over all: a .5, b 1 and 0. count_face = 2.
    # official: b and c skipped (c's face still counts). t 1..499: nothing: P NaN, R 0;
    # t 500..1000: a: P 1, R .5.  VOCap: .5 * 1 = 0.5
    labels = {"a": [F1], "b": np.zeros((0, 4)), "c": [F1]}
    subs = {"a": ([F1], [0.5]), "b": ([FAR, [50, 50, 59, 59]], [1.0, 0.0])}
    r = df(labels, subs)
    assert r.ap == pytest.approx(0.5) and r.num_faces == 2
    assert np.isnan(r.curve.precision[0]) and r.curve.precision[499] == 1.0
    assert [i.skipped for i in r.images] == [False, True, True]
    # strict: b's predictions count. t 1..499: b's 1.0: prop 1, rec 0 -> P 0, R 0;
    # t 500..999: prop 2, rec 1 -> P .5, R .5; t 1000: prop 3 -> P 1/3.  VOCap: .5 * .5 = 0.25
    s = df(labels, subs, strict=True)
    assert s.ap == pytest.approx(0.25)
    assert s.images[2].errors_at(0.0)[2].tolist() == [0]  # c's face is a miss


def test_no_predictions_at_all():
    r = df({"a": [F1]}, {})
    assert r.ap == 0.0 and r.num_faces == 1 and r.num_predictions == 0


def test_wider_ignored_faces():
    # one image, faces xywh f1 = [0,0,10,10] (kept), f2 = [20,0,10,10] (not in the keep list).
    # A on f2 (1.0): IoU 1 with an ignored face -> ignored (neither proposal nor hit);
    # B on f1 (.5): recalled; C far (0): proposal. count_face = 1 (keep list length).
    # t 1..499: {A}: prop 0, rec 0 -> P NaN, R 0; t 500..999: prop 1, rec 1 -> P 1, R 1;
    # t 1000: prop 2 -> P .5.  VOCap: 1 * max(1, .5, 0) = 1
    gt = [np.array([[0, 0, 10, 10], [20, 0, 10, 10]], float)]
    preds = {"ev/img": (np.array([[20, 0, 10, 10], [0, 0, 10, 10], [80, 80, 10, 10]], float),
                        np.array([1.0, 0.5, 0.0]))}
    res = evaluate_wider(["ev/img"], gt, {"hard": [np.array([0])], "all": [np.array([0, 1])]}, preds)
    hard = res["hard"]
    assert hard.ap == pytest.approx(1.0) and hard.num_faces == 1
    assert np.isnan(hard.curve.precision[498]) and hard.curve.precision[499] == 1.0
    assert hard.curve.precision[999] == 0.5
    assert hard.images[0].pred_status.tolist() == [IGNORED, TP, FP]
    # keep both: t 1..499: P 1, R .5; t 500..999: P 1, R 1; t 1000: P 2/3 -> AP .5 + .5 = 1
    assert res["all"].num_faces == 2 and res["all"].ap == pytest.approx(1.0)


def test_wider_ignore_changes_precision():
    # f1 kept, f2 ignored. A far (1.0): proposal, no hit. B on f2 (.5): ignored. C on f1 (0): hit.
    # t < 1000: prop 1 (A), rec 0 -> P 0, R 0; t 1000: prop 2 (A, C), rec 1 -> P .5, R 1
    # VOCap: 1 * .5 = 0.5. Keeping f2 too: t 500..999 prop 2, rec 1 -> P .5, R .5; t 1000: prop 3,
    # rec 2 -> P 2/3, R 1: AP = .5 * 2/3 + .5 * 2/3 = 2/3
    gt = [np.array([[0, 0, 10, 10], [20, 0, 10, 10]], float)]
    preds = {"e/i": (np.array([[80, 80, 10, 10], [20, 0, 10, 10], [0, 0, 10, 10]], float), np.array([1.0, 0.5, 0.0]))}
    res = evaluate_wider(["e/i"], gt, {"hard": [np.array([0])], "all": [np.array([0, 1])]}, preds)
    assert res["hard"].ap == pytest.approx(0.5)
    assert res["all"].ap == pytest.approx(2 / 3)


def test_wider_equal_scores_give_nothing():
    # WIDER's norm_score divides 0/0: all scores NaN, nothing passes any threshold -> AP 0
    gt = [np.array([[0, 0, 10, 10]], float)]
    preds = {"e/i": (np.array([[0, 0, 10, 10]], float), np.array([0.7]))}
    assert evaluate_wider(["e/i"], gt, {"x": [np.array([0])]}, preds)["x"].ap == 0.0


def test_darkface_default_is_the_current_tool_and_the_april_2019_rule_is_explicit():
    # face [10,10,19,19], prediction [13,10,22,19]: true IoU 7*10 / 130 = 0.538 (hit); with the
    # tool's x1+x2 corners [10,10,29,29] vs [13,10,35,29]: inter 17*20 = 340, union 400+460-340
    # = 520 -> 0.654 (hit too); shift 6: true 4*10/160 = .25 (miss), quirk [16,10,41,29]:
    # inter 14*20 = 280, union 400 + 520 - 280 = 640 -> .4375 (miss). Shift 5: true 5*10/150 =
    # 1/3 (miss), quirk [15,10,39,29]: inter 15*20 = 300, union 400+500-300 = 600 -> 0.5: a hit.
    label = {"a": np.array([[10, 10, 19, 19]], float)}
    sub = {"a": (np.array([[15, 10, 24, 19]], float), np.array([0.9]))}
    assert evaluate_darkface(label, sub, box_rule="april-2019").ap == pytest.approx(1.0)
    assert evaluate_darkface(label, sub).ap == 0.0


def test_per_image_details_use_original_order():
    r = df({"a": [F1, FAR]}, {"a": ([FAR, F1], [0.0, 1.0])})
    img = r.images[0]
    assert img.pred_gt.tolist() == [1, 0] and img.pred_status.tolist() == [TP, TP]
    assert img.gt_hit_score.tolist() == [1.0, 0.0]
    tp, fp, fn = img.errors_at(0.5)
    assert tp.tolist() == [1] and fp.size == 0 and fn.tolist() == [1]


def test_evaluate_official_matches_wrappers():
    imgs = [OfficialImage("x", np.array([F1], float), np.array([F1, FAR], float), np.array([2.0, 1.0]))]
    r = evaluate_official(imgs, rule="darkface")
    # normalised 1 and 0: t < 1000: P 1, R 1; t 1000: P .5 -> AP 1
    assert r.ap == 1.0 and len(r.curve) == 1000 and not math.isnan(r.curve.precision[-1])
