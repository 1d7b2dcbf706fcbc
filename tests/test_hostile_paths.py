"""Hostile paths: no name read from a file, and no export, ever writes outside where it was asked.

Issue 20, items 1 (path traversal through image names), 2 (exporting onto the project) and 8
(file modes of atomic writes). Every attack is made by the test itself.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.store import Project, create_box, import_images, set_review_status
from app.store.cli import main as project_main
from srn.commands import convert
from srn.fileio import UnsafePathError, atomic_write_text, path_inside
from srn.formats import darkface, voc, wider, yolo
from srn.formats.errors import FormatError
from srn.formats.records import Annotation


def _convert(*argv) -> int:
    parser = argparse.ArgumentParser(prog="srn")
    convert.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["convert", *map(str, argv)])
    return args.func(args)


def _coco(path: Path, file_name: str) -> Path:
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "ok.png", "width": 40, "height": 30},
                   {"id": 2, "file_name": file_name, "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 2, 10, 10]}],
        "categories": [{"id": 1, "name": "face"}],
    }))
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the output folder that a traversal would overwrite."""
    folder = tmp_path / "victim"
    folder.mkdir()
    for name in ("important.txt", "important.xml"):
        (folder / name).write_text("precious\n")
    return folder


@pytest.mark.parametrize("to", ["yolo", "voc", "darkface"])
@pytest.mark.parametrize("hostile", ["../../victim/important.png", "ABSOLUTE"])
def test_convert_refuses_coco_names_that_leave_the_output(tmp_path, victim, capsys, to, hostile):
    name = str(victim / "important.png") if hostile == "ABSOLUTE" else hostile
    src = _coco(tmp_path / "in.json", name)
    out = tmp_path / "work" / "out"
    assert _convert("--from", "coco", "--to", to, src, out) == 1
    err = capsys.readouterr().err
    assert f"{src}: images[1].file_name" in err
    assert ("absolute path" if hostile == "ABSOLUTE" else "climbs out") in err
    assert (victim / "important.txt").read_text() == "precious\n"
    assert (victim / "important.xml").read_text() == "precious\n"
    assert not out.exists(), "nothing is written when one name is refused"


def test_convert_refuses_a_wider_name_that_climbs_out_naming_its_line(tmp_path, victim, capsys):
    images = tmp_path / "images"
    (images / "day").mkdir(parents=True)
    (tmp_path / "victim" / "1.png").write_bytes(b"")
    cv2.imwrite(str(images / "day" / "a.png"), np.zeros((30, 40, 3), np.uint8))
    gt = tmp_path / "gt.txt"
    gt.write_text("day/a.png\n1\n1 1 5 5 0 0 0 0 0 0\n../victim/important.png\n1\n1 1 5 5 0 0 0 0 0 0\n")
    out = tmp_path / "out"
    assert _convert("--from", "wider", "--to", "yolo", gt, out, "--images", images) == 1
    assert f"{gt}:4: image name '../victim/important.png' climbs out" in capsys.readouterr().err
    assert (victim / "important.txt").read_text() == "precious\n"
    assert not out.exists()


def test_wider_mat_names_are_checked_too(tmp_path):
    from scipy.io import savemat

    def cell(items):
        array = np.empty((len(items), 1), dtype=object)
        for i, item in enumerate(items):
            array[i, 0] = item
        return array

    mat = tmp_path / "gt.mat"
    savemat(mat, {"event_list": cell(["../evil"]), "file_list": cell([cell(["a"])]),
                  "face_bbx_list": cell([cell([np.array([[1, 1, 5, 5]], np.int32)])])})
    with pytest.raises(FormatError, match=r"event_list\{1\}: '\.\./evil' climbs out"):
        wider.read_mat_ground_truth(mat)


@pytest.mark.parametrize("writer", ["yolo", "voc", "wider-prediction", "darkface"])
def test_every_writer_refuses_a_name_outside_its_folder_before_writing(tmp_path, victim, writer):
    out = tmp_path / "out"
    good = Annotation("ok.png", np.array([[1, 1, 5, 5]]), width=40, height=30)
    bad = Annotation("../victim/important.png", np.array([[1, 1, 5, 5]]), width=40, height=30)
    with pytest.raises(UnsafePathError, match="leads outside"):
        if writer == "yolo":
            yolo.export_yolo([good, bad], out)
        elif writer == "voc":
            voc.export_voc([good, bad], out)
        elif writer == "wider-prediction":
            wider.write_predictions(out, {"ok": (good.boxes, np.ones(1)),
                                          "../victim/important": (bad.boxes, np.ones(1))})
        else:
            darkface.write_labels_folder(out, {"ok": good.boxes, "../victim/important": bad.boxes})
    assert (victim / "important.txt").read_text() == "precious\n"
    assert not out.exists(), "the good record is not written either: all paths are checked first"


def test_path_inside_follows_symlinks_out_of_the_folder(tmp_path, victim):
    out = tmp_path / "out"
    out.mkdir()
    (out / "link").symlink_to(victim, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="leads outside"):
        path_inside(out, "link/important.txt")
    assert path_inside(out, "event/a.txt") == out / "event" / "a.txt"
    assert path_inside(out, "event/../a.txt") == out / "event/../a.txt"  # stays inside: allowed


# ------------------------------------------------------------------------------------------ export


@pytest.fixture
def project_db(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((30, 40, 3), np.uint8))
    db = tmp_path / "P.db"
    with Project.create(db) as project:
        import_images(project, images)
        create_box(project, 1, (2, 2, 12, 12))
        set_review_status(project, 1, "done")
    return db


@pytest.mark.parametrize("target", ["P.db", "P.db-wal", "P.db-shm", "P.db.backup-abc-20260101",
                                    ".darkface-studio/x.txt"])
def test_export_refuses_to_write_onto_the_project(project_db, capsys, target):
    before = project_db.read_bytes()
    out = project_db.parent / target
    assert project_main(["export", str(project_db), str(out), "--format", "wider"]) == 1
    assert "export somewhere else" in capsys.readouterr().err
    assert project_db.read_bytes() == before
    with Project.open(project_db) as project:  # still a working project
        assert project.path == project_db.resolve()


def test_export_refuses_to_replace_another_kind_of_file_unless_forced(project_db, capsys):
    notes = project_db.parent / "notes.txt"
    notes.write_text("my notes, not labels\n")
    assert project_main(["export", str(project_db), str(notes), "--format", "wider"]) == 1
    assert "is not a WIDER FACE ground-truth file; refusing to replace it" in capsys.readouterr().err
    assert notes.read_text() == "my notes, not labels\n"

    assert project_main(["export", str(project_db), str(notes), "--format", "wider", "--force"]) == 0
    assert notes.read_text().startswith("a.png\n1\n")
    assert project_main(["export", str(project_db), str(notes), "--format", "wider"]) == 0, \
        "an earlier export of the same kind is replaced without --force"


# ------------------------------------------------------------------------------------------ modes


def test_replacing_a_file_keeps_its_mode(tmp_path):
    target = tmp_path / "labels.txt"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_failed_write_names_the_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "labels.txt"

    def full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as raised:
        atomic_write_text(target, "x\n")
    assert raised.value.filename == str(target) and raised.value.strerror == "No space left on device"
    assert list((tmp_path / "out").iterdir()) == []
