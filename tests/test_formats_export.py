"""COCO / VOC / YOLO conventions with explicit numbers, round trips, the common record, outside boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srn.formats import FormatError, coco, voc, wider, yolo
from srn.formats.records import Annotation, apply_outside, from_darkface, from_wider, to_darkface, to_wider

BOX = np.array([[10, 20, 19, 39]], dtype=float)  # inclusive: 10 px wide, 20 px high


def test_pixel_conventions_with_explicit_numbers(tmp_path):
    ann = Annotation("ev/a.jpg", BOX, width=100, height=50)
    # WIDER / COCO: x y w h with w = x2 - x1 + 1
    np.testing.assert_array_equal(wider.xyxy_to_xywh(BOX), [[10, 20, 10, 20]])
    gt = coco.coco_ground_truth([ann])
    assert gt["annotations"][0]["bbox"] == [10, 20, 10, 20] and gt["annotations"][0]["area"] == 200
    # VOC: 1-based inclusive
    xml = voc.voc_xml(ann).decode()
    for tag, value in (("xmin", 11), ("ymin", 21), ("xmax", 20), ("ymax", 40), ("width", 100), ("height", 50)):
        assert f"<{tag}>{value}</{tag}>" in xml
    # YOLO: normalised centre/size over [x1, x2 + 1)
    assert yolo.format_yolo(ann) == "0 0.150000 0.600000 0.100000 0.400000\n"
    np.testing.assert_allclose(yolo.from_yolo([[0.15, 0.6, 0.1, 0.4]], 100, 50), BOX)
    # and back from each file
    coco.export_coco([ann], tmp_path / "gt.json")
    np.testing.assert_array_equal(coco.import_coco(tmp_path / "gt.json")[0].boxes, BOX)
    (path,) = voc.export_voc([ann], tmp_path / "voc")
    assert path == tmp_path / "voc" / "ev" / "a.xml"
    np.testing.assert_array_equal(voc.read_voc(path).boxes, BOX)
    (path,) = yolo.export_yolo([ann], tmp_path / "yolo")
    np.testing.assert_allclose(yolo.read_yolo(path, 100, 50), BOX, atol=1e-9)


def test_wider_and_darkface_records_convert_both_ways():
    rec = wider.WiderRecord("0--A/a.jpg", [[10, 20, 10, 20]], [[1, 0, 0, 1, 0, 0]])
    ann = from_wider(rec)
    np.testing.assert_array_equal(ann.boxes, BOX)
    assert ann.ignore.tolist() == [True]  # invalid -> ignored
    back = to_wider(ann)
    np.testing.assert_array_equal(back.boxes, rec.boxes)
    np.testing.assert_array_equal(back.attributes, rec.attributes)
    anns = from_darkface({"5": BOX}, folder="label")
    assert anns[0].name == "5.png" and anns[0].where(0) == (anns[0].source, 2)
    np.testing.assert_array_equal(to_darkface(anns)["5"], BOX)
    assert to_wider(Annotation("x.png", BOX, ignore=[True])).attributes[0, wider.ATTRIBUTES.index("invalid")] == 1
    with pytest.raises(ValueError, match="share the DARK FACE id"):
        to_darkface([Annotation("a/1.png", BOX), Annotation("b/1.png", BOX)])


def test_outside_keep_clip_reject():
    boxes = np.array([[-3, 5, 9, 9], [0, 0, 99, 49], [95, 10, 120, 20], [200, 0, 210, 5]], dtype=float)
    ann = Annotation("a.png", boxes, width=100, height=50, source="label/a.txt", lines=[2, 3, 4, 5])
    kept, msgs = apply_outside(ann, "keep")
    assert kept is ann and len(msgs) == 3
    assert msgs[0].startswith("label/a.txt:2: box x1 y1 x2 y2 = -3 5 9 9 extends outside the 100x50 image a.png")
    clipped, msgs = apply_outside(ann, "clip")
    np.testing.assert_array_equal(clipped.boxes, [[0, 5, 9, 9], [0, 0, 99, 49], [95, 10, 99, 20]])
    assert clipped.lines.tolist() == [2, 3, 4]
    assert msgs[-1].endswith("nothing inside, dropped") and msgs[0].endswith("clipped")
    with pytest.raises(FormatError) as info:
        apply_outside(ann, "reject")
    assert (str(info.value.path), info.value.line) == ("label/a.txt", 2)
    assert "x2 <= 99" in str(info.value)
    unsized = Annotation("b.png", boxes)
    assert apply_outside(unsized, "reject") == (unsized, [])


def test_coco_attributes_ignore_and_results(tmp_path):
    anns = [Annotation("ev/a.jpg", [[1, 2, 3, 4], [5, 6, 7, 8.5]], 64, 48, ignore=[False, True],
                       attributes=[[0, 1, 0, 0, 2, 0], [2, 0, 0, 1, 0, 1]]),
            Annotation("ev/b.jpg", np.zeros((0, 4)), 32, 32)]
    coco.export_coco(anns, tmp_path / "gt.json")
    data = json.loads((tmp_path / "gt.json").read_text())
    assert [i["id"] for i in data["images"]] == [1, 2] and data["annotations"][1]["iscrowd"] == 1
    back = coco.import_coco(tmp_path / "gt.json")
    assert [(b.name, b.width, b.height) for b in back] == [("ev/a.jpg", 64, 48), ("ev/b.jpg", 32, 32)]
    np.testing.assert_array_equal(back[0].attributes, anns[0].attributes)
    assert back[0].ignore.tolist() == [False, True] and back[1].boxes.shape == (0, 4)
    dets = [Annotation("ev/a.jpg", [[1, 2, 3, 4]], scores=[0.5]), Annotation("ev/b.jpg", np.zeros((0, 4)), scores=[])]
    coco.export_coco_results(dets, tmp_path / "res.json", image_ids=coco.image_ids(tmp_path / "gt.json"))
    assert json.loads((tmp_path / "res.json").read_text()) == [
        {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 3], "score": 0.5}]
    res = coco.import_coco(tmp_path / "res.json", gt=tmp_path / "gt.json")
    assert [r.name for r in res] == ["ev/a.jpg", "ev/b.jpg"] and res[0].scores.tolist() == [0.5]
    np.testing.assert_array_equal(res[0].boxes, [[1, 2, 3, 4]])
    assert [r.name for r in coco.import_coco(tmp_path / "res.json")] == ["1"]
    with pytest.raises(ValueError, match="needs the image size"):
        coco.export_coco([Annotation("x.png", BOX)], tmp_path / "x.json")


@pytest.mark.parametrize(
    ("payload", "line", "fragment"),
    [
        ('{"images": [],\n "annotations": [}', 2, "not valid JSON"),
        ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1}],'
         ' "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]}', None,
         "annotations[0].bbox: expected 4 numbers"),
        ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], "categories": [{"id": 1}],'
         ' "annotations": [{"image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4]}]}', None, "no such image"),
        ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 0, "height": 10}], "categories": [{"id": 1}],'
         ' "annotations": []}', None, "images[0].width: expected a positive integer"),
        ('{"images": [], "annotations": []}', None, "expected a list 'categories'"),
        ('[{"image_id": 1, "bbox": [1, 2, 3, 4]}]', None, "[0]: expected the field 'score'"),
        ('"x"', None, "expected COCO ground truth"),
    ],
)
def test_coco_errors(tmp_path, payload, line, fragment):
    path = tmp_path / "c.json"
    path.write_text(payload)
    with pytest.raises(FormatError) as info:
        coco.import_coco(path)
    assert info.value.line == line and str(info.value).startswith(f"{path}:") and fragment in str(info.value)


def test_voc_and_yolo_errors(tmp_path):
    (tmp_path / "bad.xml").write_text("<annotation>\n<filename>a.jpg</filename>\n<size>")
    with pytest.raises(FormatError) as info:
        voc.read_voc(tmp_path / "bad.xml")
    assert info.value.line == 3
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 1.5 0.1\n")
    with pytest.raises(FormatError, match=r"a.txt:2: expected normalised values"):
        yolo.read_yolo(tmp_path / "a.txt", 10, 10)
    (tmp_path / "b.txt").write_text("face 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match=r"b.txt:1: expected an integer class id"):
        yolo.read_yolo(tmp_path / "b.txt", 10, 10)


_box = st.tuples(st.integers(0, 400), st.integers(0, 300), st.integers(0, 99), st.integers(0, 99)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(_box, st.booleans()), max_size=8), st.integers(500, 3000), st.integers(400, 2000))
def test_coco_voc_yolo_round_trip_property(tmp_path_factory, faces, width, height):
    d = tmp_path_factory.mktemp("rt")
    boxes = np.array([f[0] for f in faces], dtype=float).reshape(-1, 4)
    ann = Annotation("ev/img.jpg", boxes, width, height, ignore=[f[1] for f in faces])
    coco.export_coco([ann], d / "gt.json")
    (back,) = coco.import_coco(d / "gt.json")
    np.testing.assert_array_equal(back.boxes, boxes)
    assert back.ignore.tolist() == ann.ignore.tolist()
    (path,) = voc.export_voc([ann], d / "voc")
    back = voc.read_voc(path)
    np.testing.assert_array_equal(back.boxes, boxes)
    assert (back.width, back.height, back.ignore.tolist()) == (width, height, ann.ignore.tolist())
    (path,) = yolo.export_yolo([ann], d / "yolo")
    got = yolo.read_yolo(path, width, height)
    np.testing.assert_allclose(got, boxes, atol=0.01)  # 6 decimals: within 1e-6 of the size
    np.testing.assert_array_equal(np.rint(got), boxes)
