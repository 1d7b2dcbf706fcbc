"""WIDER FACE (text, .mat, predictions) and DARK FACE (labels, submissions) readers: strict, complete."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import savemat

from srn.formats import FormatError, darkface, wider


def _raises(fn, path, line, fragment, file=None):
    with pytest.raises(FormatError) as info:
        fn(path)
    file = file or path
    assert info.value.line == line, str(info.value)
    assert str(info.value).startswith(f"{file}:{line}: " if line else f"{file}: "), str(info.value)
    assert fragment in str(info.value), str(info.value)
    return info.value


# ---------------------------------------------------------------- WIDER ground truth (text)

GOOD = "0--A/a.jpg\n2\n1 2 10 12 2 0 1 0 1 0 \n5 6 7 8 0 1 0 1 2 1\n0--A/e.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n"


def test_wider_gt_reads_lines_and_placeholder(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text(GOOD + "\n\n")  # trailing blank lines are fine
    a, e = wider.read_gt(path)
    np.testing.assert_array_equal(a.boxes, [[1, 2, 10, 12], [5, 6, 7, 8]])
    np.testing.assert_array_equal(a.attributes[:, wider.ATTRIBUTES.index("pose")], [0, 1])
    assert a.lines.tolist() == [3, 4] and a.source == path
    assert e.boxes.shape == (0, 4) and e.attributes.shape == (0, 6)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # count says 1 but 2 face lines follow: the extra face line stands where a name is expected
        ("a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n1 2 3 4 0 0 0 0 0 0\n", 4, "the count 1 of a.jpg on line 2"),
        # count says 3 but the next image starts after 2 lines
        ("a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n1 2 3 4 0 0 0 0 0 0\nb.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n", 5,
         "says 3 faces but only 2 face lines follow"),
        ("a.jpg\n0\nb.jpg\n", 3, "expected 10 numbers"),
        ("a.jpg\n0\n1 0 0 0 0 0 0 0 0 0\n", 3, "all-zero line was expected"),
        ("a.jpg\n1\n1 2 -3 4 0 0 0 0 0 0\n", 3, "non-negative width and height"),
        ("a.jpg\n1\n1 2 3 4 0.5 0 0 0 0 0\n", 3, "non-negative integer attributes"),
        ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\nnan 2 3 4 0 0 0 0 0 0\n", 4, "finite numbers"),
        ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1 2 3 four 0 0 0 0 0 0\n", 4, "expected numbers"),
        ("a.jpg\n-1\n", 2, "non-negative integer"),
        ("a.jpg\n", 2, "unexpected end of file: expected the face count of a.jpg"),
        ("a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n\nb.jpg\n", 4, "blank line"),
        ("a b.jpg\n", 1, "expected an image file name"),
    ],
)
def test_wider_gt_errors_name_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "gt.txt"
    path.write_text(text)
    _raises(wider.read_gt, path, line, fragment)


def test_wider_gt_binary_file(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_bytes(b"\xff\xfe\x00a.jpg")
    _raises(wider.read_gt, path, None, "not a UTF-8 text file")


def test_wider_gt_names_with_spaces_are_refused_on_write(tmp_path):
    with pytest.raises(ValueError, match="white space"):
        wider.format_gt([wider.WiderRecord("a b.jpg", [[1, 2, 3, 4]])])


# ---------------------------------------------------------------- WIDER predictions

def test_predictions_folder_round_trip_and_keys(tmp_path):
    preds = {
        "0--Parade/0_Parade_marchingband_1_465": (np.array([[10, 20, 19, 39], [0.5, 1, 4.5, 9]]),
                                                  np.array([0.9, 0.25])),
        "1--Handshaking/1_Handshaking_1": (np.zeros((0, 4)), np.zeros(0)),
    }
    wider.write_predictions(tmp_path, preds)
    text = (tmp_path / "0--Parade" / "0_Parade_marchingband_1_465.txt").read_text().splitlines()
    assert text[:3] == ["0_Parade_marchingband_1_465", "2", "10.0 20.0 10.0 20.0 0.9000"]  # x y w h, inclusive w
    back = wider.read_predictions(tmp_path)
    assert sorted(back) == sorted(preds)
    for key, (boxes, scores) in preds.items():
        np.testing.assert_allclose(back[key][0], boxes)
        np.testing.assert_allclose(back[key][1], scores)
        assert back[key][0].dtype == np.float64 and back[key][0].shape == (len(boxes), 4)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("other\n1\n1 2 3 4 0.5\n", 1, "expected the image name 'img_1'"),
        ("img_1\n2\n1 2 3 4 0.5\n", 2, "count says 2 boxes but 1 box lines follow"),
        ("img_1\n1\n1 2 3 4\n", 3, "expected 5 numbers (x y w h score), found 4"),
        ("img_1\n1\n1 2 -3 4 0.5\n", 3, "non-negative width"),
        ("img_1\none\n", 2, "non-negative integer"),
        ("img_1\n", 2, "expected the number of boxes"),
        ("", 1, "empty file"),
    ],
)
def test_prediction_errors(tmp_path, text, line, fragment):
    (tmp_path / "ev").mkdir()
    path = tmp_path / "ev" / "img_1.txt"
    path.write_text(text)
    _raises(wider.read_prediction, path, line, fragment)
    with pytest.raises(FormatError):
        wider.read_predictions(tmp_path)


def test_prediction_name_may_carry_the_image_extension(tmp_path):
    path = tmp_path / "img_1.txt"
    path.write_text("img_1.jpg\n1\n10 20 10 20 0.5\n")
    boxes, scores = wider.read_prediction(path)
    np.testing.assert_array_equal(boxes, [[10, 20, 19, 39]])
    assert wider.read_predictions(tmp_path).keys() == {"img_1"}


def test_read_predictions_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        wider.read_predictions(tmp_path / "nope")


# ---------------------------------------------------------------- WIDER .mat (official eval structure)

def _cell(items):
    """A MATLAB N x 1 cell array as scipy.io.savemat expects it."""
    arr = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        arr[i, 0] = item
    return arr


def _write_val_mat(path):
    events = ["0--Parade", "1--Handshaking"]
    files = [["0_Parade_a", "0_Parade_b"], ["1_Hand_c"]]
    boxes = [[np.array([[1, 2, 10, 12], [5, 6, 7, 8]], dtype=np.float64), np.zeros((0, 4))],
             [np.array([[100, 50, 20, 30]], dtype=np.float64)]]
    savemat(path, {
        "event_list": _cell(events),
        "file_list": _cell([_cell(f) for f in files]),
        "face_bbx_list": _cell([_cell(b) for b in boxes]),
    })
    return events, files, boxes


def test_read_mat_ground_truth(tmp_path):
    events, files, boxes = _write_val_mat(tmp_path / "wider_face_val.mat")
    gt = wider.read_mat_ground_truth(tmp_path / "wider_face_val.mat")
    assert gt.events == events and gt.files == files
    for got_event, want_event in zip(gt.boxes, boxes):
        for got, want in zip(got_event, want_event):
            assert got.dtype == np.float64 and got.shape == (len(want), 4)
            np.testing.assert_array_equal(got, want)  # x y w h as stored
    assert [r.name for r in gt.records()] == ["0--Parade/0_Parade_a.jpg", "0--Parade/0_Parade_b.jpg",
                                              "1--Handshaking/1_Hand_c.jpg"]


def test_read_mat_keep_lists_converts_to_zero_based(tmp_path):
    keep = [[np.array([[1], [2]], dtype=np.float64), np.zeros((0, 1))], [np.array([[1]], dtype=np.uint8)]]
    savemat(tmp_path / "wider_easy_val.mat", {"gt_list": _cell([_cell(k) for k in keep]),
                                               "event_list": _cell(["0--Parade", "1--Handshaking"])})
    lists = wider.read_mat_keep_lists(tmp_path / "wider_easy_val.mat")
    assert [[k.tolist() for k in ev] for ev in lists] == [[[0, 1], []], [[0]]]
    assert all(k.dtype == np.int64 for ev in lists for k in ev)


def test_mat_errors(tmp_path):
    savemat(tmp_path / "a.mat", {"event_list": _cell(["x"])})
    _raises(wider.read_mat_ground_truth, tmp_path / "a.mat", None, "expected the variable(s) file_list, face_bbx_list")
    savemat(tmp_path / "b.mat", {"event_list": _cell(["x"]), "file_list": _cell([_cell(["a"])]),
                                 "face_bbx_list": _cell([_cell([np.zeros((1, 3))])])})
    _raises(wider.read_mat_ground_truth, tmp_path / "b.mat", None, "face_bbx_list{1}{1}: expected a K x 4 array")
    savemat(tmp_path / "c.mat", {"gt_list": _cell([_cell([np.array([[0.0]])])])})
    _raises(wider.read_mat_keep_lists, tmp_path / "c.mat", None, "expected 1-based face indices")
    (tmp_path / "d.mat").write_bytes(b"not a mat file at all" * 10)
    _raises(wider.read_mat_keep_lists, tmp_path / "d.mat", None, "not a readable MATLAB .mat file")


# ---------------------------------------------------------------- DARK FACE

def test_darkface_folders_round_trip_in_id_order(tmp_path):
    labels = {"10": np.array([[1, 2, 3, 4]]), "2": np.zeros((0, 4)), "1": np.array([[0, 0, 9, 9], [5, 5, 6, 8]])}
    darkface.write_labels_folder(tmp_path / "label", labels)
    back = darkface.read_labels_folder(tmp_path / "label")
    assert list(back) == ["1", "2", "10"]
    for key in labels:
        np.testing.assert_array_equal(back[key], labels[key])
    subs = {"3": (np.array([[1, 2, 3, 4.5]]), np.array([0.75])), "4": (np.zeros((0, 4)), np.zeros(0))}
    darkface.write_submissions_folder(tmp_path / "sub", subs)
    back_subs = darkface.read_submissions_folder(tmp_path / "sub")
    assert list(back_subs) == ["3", "4"]
    np.testing.assert_array_equal(back_subs["3"][0], [[1, 2, 3, 4.5]])
    np.testing.assert_array_equal(back_subs["3"][1], [0.75])
    assert back_subs["4"][0].shape == (0, 4) and back_subs["4"][1].shape == (0,)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("1 2 3 4 0.5\n1 2 3\n", 2, "expected 5 numbers (x1 y1 x2 y2 score), found 3"),
        ("2\n1 2 3 4 0.5\n", 1, "no header"),
        ("1 2 3 4 0.5\n5 2 3 4 0.5\n", 2, "inverted box"),
        ("1 2 3 4 inf\n", 1, "finite numbers"),
        ("1 2 3 4 x\n", 1, "expected numbers"),
    ],
)
def test_darkface_submission_errors(tmp_path, text, line, fragment):
    path = tmp_path / "7.txt"
    path.write_text(text)
    _raises(darkface.read_submission, path, line, fragment)


def test_darkface_folder_error_names_the_bad_file(tmp_path):
    darkface.write_label(tmp_path / "1.txt", np.array([[1, 2, 3, 4]]))
    (tmp_path / "2.txt").write_text("2\n1 2 3 4\n")
    _raises(darkface.read_labels_folder, tmp_path, 1, "count says 2 faces but 1 box lines follow", tmp_path / "2.txt")
    with pytest.raises(FileNotFoundError):
        darkface.read_labels_folder(tmp_path / "missing")


_coord = st.integers(0, 3000)
_box = st.tuples(_coord, _coord, st.integers(0, 300), st.integers(0, 300)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_box, st.integers(0, 10000)), max_size=12))
def test_submission_and_prediction_round_trip_property(tmp_path_factory, items):
    d = tmp_path_factory.mktemp("p")
    boxes = np.array([b for b, _ in items], dtype=float).reshape(-1, 4)
    scores = np.array([s / 10000 for _, s in items])
    darkface.write_submission(d / "1.txt", boxes, scores)
    got_b, got_s = darkface.read_submission(d / "1.txt")
    np.testing.assert_array_equal(got_b, boxes)
    np.testing.assert_allclose(got_s, scores, atol=5e-5)
    wider.write_prediction(d / "pred", "ev/im.jpg", boxes, scores)
    got_b, got_s = wider.read_predictions(d / "pred")["ev/im"]
    np.testing.assert_array_equal(got_b, boxes)
    np.testing.assert_allclose(got_s, scores, atol=5e-5)


def test_coco_image_ids_without_an_integer_id_is_a_format_error(tmp_path) -> None:
    from srn.formats import coco

    path = tmp_path / "gt.json"
    path.write_text('{"images": [{"file_name": "a.jpg", "id": 3}, {"file_name": "b.jpg"}], "annotations": []}')
    with pytest.raises(FormatError, match=r"images\[1\]: expected an integer 'id', found None"):
        coco.image_ids(path)
    path.write_text('{"images": [{"file_name": "a.jpg", "id": 3}], "annotations": []}')
    assert coco.image_ids(path) == {"a.jpg": 3}
