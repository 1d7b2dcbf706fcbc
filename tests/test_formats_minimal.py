"""The minimal WIDER FACE / DARK FACE readers and writers round-trip and reject bad files clearly."""

from __future__ import annotations

import numpy as np
import pytest

from srn.formats import FormatError, darkface, wider


def test_darkface_label_round_trip(tmp_path):
    boxes = np.array([[10, 20, 29, 44], [0, 0, 9, 9], [1.5, 2, 3.25, 4]])
    path = darkface.write_label(tmp_path / "label" / "1.txt", boxes)
    assert path.read_text().splitlines()[:2] == ["3", "10 20 29 44"]
    np.testing.assert_array_equal(darkface.read_label(path), boxes)


def test_darkface_empty_label_round_trip(tmp_path):
    path = darkface.write_label(tmp_path / "2.txt", np.zeros((0, 4)))
    assert path.read_text() == "0\n"
    assert darkface.read_label(path).shape == (0, 4)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("3\n1 2 3 4\n", 1, "count says 3 faces but 1 box lines follow"),
        ("2\n1 2 3 4\n1 2 x 4\n", 3, "expected numbers"),
        ("1\n1 2 3\n", 2, "expected 4 numbers"),
        ("1\n5 5 2 9\n", 2, "inverted box"),
        ("two\n", 1, "non-negative integer"),
        ("", 1, "empty file"),
    ],
)
def test_darkface_malformed_label_names_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        darkface.read_label(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_wider_gt_round_trip_keeps_attributes_and_empty_images(tmp_path):
    records = [
        wider.WiderRecord("0--A/a.jpg", [[1, 2, 10, 12], [5, 6, 7, 8]], [[2, 0, 1, 0, 1, 0], [0, 1, 0, 1, 2, 1]]),
        wider.WiderRecord("0--A/empty.jpg", np.zeros((0, 4))),
        wider.WiderRecord("1--B/b.jpg", [[3, 4, 5, 6]]),
    ]
    path = wider.write_gt(tmp_path / "gt.txt", records)
    lines = path.read_text().splitlines()
    assert lines[4:7] == ["0--A/empty.jpg", "0", "0 0 0 0 0 0 0 0 0 0"]
    back = wider.read_gt(path)
    assert [r.name for r in back] == [r.name for r in records]
    for got, want in zip(back, records):
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.attributes, want.attributes)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", 4, "unexpected end of file"),
        ("a.jpg\nx\n", 2, "non-negative integer"),
        ("a.jpg\n1\n1 2 3 4 0 0 0 0 0\n", 3, "expected 10 numbers"),
        ("12\n", 1, "expected an image file name"),
    ],
)
def test_wider_malformed_gt_names_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(FormatError) as info:
        wider.read_gt(path)
    assert (info.value.line, fragment in str(info.value)) == (line, True), str(info.value)


def test_inclusive_width_conversion_is_exact_inverse():
    xyxy = np.array([[10, 20, 19, 39], [0, 0, 0, 0]], dtype=float)
    xywh = wider.xyxy_to_xywh(xyxy)
    np.testing.assert_array_equal(xywh, [[10, 20, 10, 20], [0, 0, 1, 1]])
    np.testing.assert_array_equal(wider.xywh_to_xyxy(xywh), xyxy)


# Property-based: any boxes and attributes survive a write/read round trip exactly.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_coord = st.integers(min_value=0, max_value=5000)
_box = st.tuples(_coord, _coord, st.integers(0, 500), st.integers(0, 500)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_box, max_size=20))
def test_darkface_round_trip_property(tmp_path_factory, boxes):
    path = tmp_path_factory.mktemp("df") / "x.txt"
    darkface.write_label(path, np.asarray(boxes, dtype=float).reshape(-1, 4))
    np.testing.assert_array_equal(darkface.read_label(path), np.asarray(boxes, dtype=float).reshape(-1, 4))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(_box, max_size=6), st.integers(0, 2)), min_size=1, max_size=6))
def test_wider_round_trip_property(tmp_path_factory, images):
    records = [
        wider.WiderRecord(f"0--Ev/img_{i}.jpg", wider.xyxy_to_xywh(np.asarray(b, float).reshape(-1, 4)),
                          np.full((len(b), 6), blur, dtype=np.int64))
        for i, (b, blur) in enumerate(images)
    ]
    path = wider.write_gt(tmp_path_factory.mktemp("w") / "gt.txt", records)
    back = wider.read_gt(path)
    assert len(back) == len(records)
    for got, want in zip(back, records):
        assert got.name == want.name
        np.testing.assert_array_equal(wider.xywh_to_xyxy(got.boxes), wider.xywh_to_xyxy(want.boxes))
        np.testing.assert_array_equal(got.attributes, want.attributes)


def test_wider_prediction_file_layout(tmp_path):
    boxes = np.array([[10, 20, 19, 39], [0.5, 1, 4.5, 9]])
    path = wider.write_prediction(tmp_path, "3--Riot/3_Riot_1.jpg", boxes, np.array([0.9, 0.25]))
    assert path == tmp_path / "3--Riot" / "3_Riot_1.txt"
    assert path.read_text().splitlines() == ["3_Riot_1", "2", "10.0 20.0 10.0 20.0 0.9000", "0.5 1.0 5.0 9.0 0.2500"]


def test_darkface_submission_has_no_header(tmp_path):
    path = darkface.write_submission(tmp_path / "12.txt", np.array([[1, 2, 3, 4]]), np.array([0.5]))
    assert path.read_text() == "1.0 2.0 3.0 4.0 0.5000\n"
    assert darkface.write_submission(tmp_path / "13.txt", np.zeros((0, 4)), np.zeros(0)).read_text() == ""
