"""``srn convert``: every target, image sizes from --images, outside handling, exit statuses."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest

from srn.commands import convert
from srn.formats import coco, darkface, voc, wider


def _run(*argv):
    parser = argparse.ArgumentParser(prog="srn")
    convert.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["convert", *map(str, argv)])
    return args.func(args)


@pytest.fixture
def dataset(tmp_path):
    """WIDER ground truth for two images (one face-less) and the images themselves (80x60, 40x30)."""
    (tmp_path / "images" / "0--A").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images" / "0--A" / "a.jpg"), np.zeros((60, 80, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "images" / "0--A" / "b.png"), np.zeros((30, 40), np.uint8))
    records = [wider.WiderRecord("0--A/a.jpg", [[10, 20, 10, 20], [70, 50, 20, 5]], [[1, 0, 0, 0, 0, 0], [0] * 6]),
               wider.WiderRecord("0--A/b.png", np.zeros((0, 4)))]
    wider.write_gt(tmp_path / "gt.txt", records)
    return tmp_path


def test_wider_to_every_format_and_back(dataset, capsys):
    d = dataset
    assert _run("--from", "wider", "--to", "coco", d / "gt.txt", d / "gt.json", "--images", d / "images") == 0
    assert "outside the 80x60 image 0--A/a.jpg" in capsys.readouterr().err  # kept, but reported
    data = json.loads((d / "gt.json").read_text())
    assert [(i["file_name"], i["width"], i["height"]) for i in data["images"]] == [("0--A/a.jpg", 80, 60),
                                                                                   ("0--A/b.png", 40, 30)]
    assert data["annotations"][0]["bbox"] == [10, 20, 10, 20] and data["annotations"][0]["attributes"]["blur"] == 1
    # coco -> wider keeps boxes and attributes exactly
    assert _run("--from", "coco", "--to", "wider", d / "gt.json", d / "back.txt") == 0
    assert (d / "back.txt").read_text() == (d / "gt.txt").read_text()
    # coco -> darkface / voc / yolo (sizes from the COCO file), clipping the box outside
    assert _run("--from", "coco", "--to", "darkface", d / "gt.json", d / "label", "--outside", "clip") == 0
    np.testing.assert_array_equal(darkface.read_label(d / "label" / "a.txt"), [[10, 20, 19, 39], [70, 50, 79, 54]])
    assert _run("--from", "coco", "--to", "voc", d / "gt.json", d / "voc", "--outside", "clip") == 0
    np.testing.assert_array_equal(voc.read_voc(d / "voc" / "0--A" / "a.xml").boxes,
                                  [[10, 20, 19, 39], [70, 50, 79, 54]])
    assert _run("--from", "coco", "--to", "yolo", d / "gt.json", d / "yolo", "--outside", "clip") == 0
    assert (d / "yolo" / "0--A" / "a.txt").read_text().splitlines()[0] == "0 0.187500 0.500000 0.125000 0.333333"
    assert (d / "yolo" / "0--A" / "b.txt").read_text() == ""
    # darkface -> wider (names from the images folder when given)
    assert _run("--from", "darkface", "--to", "wider", d / "label", d / "df.txt") == 0
    assert wider.read_gt(d / "df.txt")[0].name == "a.png"
    assert "converted 2 images with 2 faces" in capsys.readouterr().out


def test_reject_names_file_and_line_and_writes_nothing(dataset, capsys):
    d = dataset
    code = _run("--from", "wider", "--to", "coco", d / "gt.txt", d / "out.json", "--images", d / "images",
                "--outside", "reject")
    assert code == 1
    assert f"{d / 'gt.txt'}:4: box x1 y1 x2 y2 = 70 50 89 54 extends outside" in capsys.readouterr().err
    assert not (d / "out.json").exists()


def test_malformed_input_exit_1(tmp_path, capsys):
    (tmp_path / "gt.txt").write_text("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n")
    assert _run("--from", "wider", "--to", "darkface", tmp_path / "gt.txt", tmp_path / "out") == 1
    assert f"{tmp_path / 'gt.txt'}:4: unexpected end of file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--from", "wider", "--to", "voc", "{d}/gt.txt", "{d}/voc"], "--to voc needs image sizes"),
        (["--from", "wider", "--to", "wider", "{d}/gt.txt", "{d}/o.txt", "--outside", "clip"], "--outside clip needs"),
        (["--from", "wider", "--to", "coco", "{d}/nope.txt", "{d}/o.json"], "no such file"),
        (["--from", "darkface", "--to", "coco", "{d}/gt.txt", "{d}/o.json"], "no such folder"),
        (["--from", "wider", "--to", "coco", "{d}/gt.txt", "{d}/o.json", "--images", "{d}/nope"],
         "no such folder (--images)"),
        (["--from", "wider", "--to", "coco", "{d}/gt.txt", "{d}/o.json", "--images", "{d}"], "no image for 2 of 2"),
        (["--from", "wider", "--to", "coco", "{d}/gt.txt", "{d}/images"], "is a folder"),
    ],
)
def test_usage_errors_exit_2(dataset, capsys, argv, fragment):
    assert _run(*[a.format(d=dataset) for a in argv]) == 2
    assert fragment in capsys.readouterr().err


def test_argparse_rejects_unknown_formats(tmp_path):
    for args in (("--from", "yolo", "--to", "wider"),  # YOLO is written, not read (it needs every image's size)
                 ("--from", "wider", "--to", "pascal")):
        with pytest.raises(SystemExit) as info:
            _run(*args, tmp_path, tmp_path / "x")
        assert info.value.code == 2


def test_mat_input(tmp_path):
    from scipy.io import savemat

    def cell(items):
        arr = np.empty((len(items), 1), dtype=object)
        for i, item in enumerate(items):
            arr[i, 0] = item
        return arr

    savemat(tmp_path / "wider_face_val.mat", {"event_list": cell(["0--A"]), "file_list": cell([cell(["a"])]),
                                              "face_bbx_list": cell([cell([np.array([[1.0, 2, 3, 4]])])])})
    assert _run("--from", "wider", "--to", "darkface", tmp_path / "wider_face_val.mat", tmp_path / "label") == 0
    np.testing.assert_array_equal(darkface.read_label(tmp_path / "label" / "a.txt"), [[1, 2, 3, 5]])
    assert coco.CATEGORY_ID == 1
