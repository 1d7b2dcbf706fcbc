"""``darkface-studio project ...``: real subprocess runs and in-process ``main([...])`` calls.

Exit status 0 done, 1 bad input or data (``error: file:line: ...``), 2 usage error; no Qt on this
path; ``darkface-studio FOLDER`` still means the window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.main import main as app_main
from app.store.cli import main
from srn.formats import wider

REPO = Path(__file__).resolve().parents[1]
RUN_MAIN = "import sys; from app.main import main; sys.exit(main(sys.argv[1:]))"

GT = """\
ev/a.png
2
10 20 15 16 1 0 2 0 1 0
30 40 8 9 0 1 0 1 0 2
ev/b.png
0
0 0 0 0 0 0 0 0 0 0
"""


def write_png(path: Path, seed: int, width: int = 120, height: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", RUN_MAIN, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """``images/ev/{a,b,c}.png`` and a WIDER ground truth ``gt.txt`` labelling a and b."""
    for i, name in enumerate("abc"):
        write_png(tmp_path / "images" / "ev" / f"{name}.png", i)
    (tmp_path / "gt.txt").write_text(GT, encoding="utf-8")
    return tmp_path


@pytest.mark.slow
def test_end_to_end_in_a_subprocess(data: Path) -> None:
    db, out = data / "p.dfs.db", data / "out" / "gt.txt"
    steps = [
        ("init", str(db), "--root", str(data / "images")),
        ("import-images", str(db), str(data / "images"), "--split", "train"),
        ("import-labels", str(db), str(data / "gt.txt"), "--format", "wider"),
        ("export", str(db), str(out), "--format", "wider"),
        ("stats", str(db), "--json"),
    ]
    results = [run_cli("project", *step, cwd=data) for step in steps]
    for step, result in zip(steps, results):
        assert result.returncode == 0, (step, result.stderr)
        assert "Traceback" not in result.stderr
    assert "with 1 image roots" in results[0].stdout
    assert "3 image files found: 3 added" in results[1].stdout
    assert "2 boxes on 2 images imported" in results[2].stdout
    assert "exported 2 images with 2 faces as wider" in results[3].stdout
    exported, original = wider.read_gt(out), wider.read_gt(data / "gt.txt")
    assert [r.name for r in exported] == [r.name for r in original]
    for mine, theirs in zip(exported, original):
        np.testing.assert_allclose(mine.boxes, theirs.boxes)
        np.testing.assert_array_equal(mine.attributes, theirs.attributes)
    stats = json.loads(results[4].stdout)
    assert stats["images_by_status"] == {"new": 1, "in_progress": 0, "done": 2, "skipped": 0}
    assert stats["faces"] == 2 and stats["faces_per_image"] == {"0": 2, "2": 1}


def test_the_project_path_never_imports_qt(data: Path) -> None:
    db = data / "p.dfs.db"
    assert main(["init", str(db)]) == 0
    code = ("import sys\n"
            "import app.store.cli\n"
            "before = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))\n"
            "from app.main import main\n"
            f"rc = main(['project', 'stats', {str(db)!r}])\n"
            "after = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))\n"
            "print('QT', rc, before, after)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "QT 0 [] []"


def test_a_malformed_label_line_exits_1_naming_file_and_line(db_url: str, data: Path, capsys) -> None:
    bad = data / "bad.txt"
    bad.write_text("ev/a.png\n1\n10 20 15 x 0 0 0 0 0 0\n", encoding="utf-8")
    assert main(["init", db_url]) == 0
    assert main(["import-images", db_url, str(data / "images")]) == 0
    capsys.readouterr()
    assert main(["import-labels", db_url, str(bad), "--format", "wider"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{bad}:3: expected numbers" in err
    assert main(["stats", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["boxes"] == 0  # nothing half-imported


def test_an_unmatched_image_name_exits_1_unless_allowed(db_url: str, data: Path, capsys) -> None:
    gt = data / "more.txt"
    gt.write_text(GT + "ev/zzz.png\n0\n0 0 0 0 0 0 0 0 0 0\n", encoding="utf-8")
    assert main(["init", db_url]) == 0
    assert main(["import-images", db_url, str(data / "images")]) == 0
    assert main(["import-labels", db_url, str(gt), "--format", "wider"]) == 1
    assert "no image 'ev/zzz.png' in the project" in capsys.readouterr().err
    assert main(["import-labels", db_url, str(gt), "--format", "wider", "--allow-unmatched", "--keep-status"]) == 0
    out = capsys.readouterr().out
    assert "1 annotated images not in the project skipped" in out and "ev/zzz.png" in out
    assert main(["stats", db_url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["faces"] == 2 and stats["images_by_status"]["done"] == 0  # --keep-status


@pytest.mark.parametrize("argv", [
    ["import-labels", "p.db", "gt.txt", "--format", "yolo"],
    ["export", "p.db", "out", "--format", "pascal"],
    ["export", "p.db", "out", "--format", "wider", "--status", "finished"],
    ["export", "p.db", "out", "--format", "wider", "--run", "1"],
    ["stats"],
    ["frobnicate", "p.db"],
    [],
])
def test_usage_errors_exit_2(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    assert "usage: darkface-studio project" in capsys.readouterr().err


def test_help_says_what_each_command_does(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("init", "import-images", "import-labels", "export", "stats"):
        assert command in text
    assert main(["export", "--help"]) == 0
    text = capsys.readouterr().out
    assert "wider-predictions" in text and "default: done" in text
    with pytest.raises(SystemExit) as exit_info:  # the window's parser points at the project command
        app_main(["--help"])
    assert exit_info.value.code == 0
    assert "darkface-studio project" in capsys.readouterr().out


def test_app_main_dispatches_project_commands(db_url: str, capsys) -> None:
    assert app_main(["project", "init", db_url]) == 0
    assert app_main(["project", "stats", db_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["images"] == 0  # after init's own line
    assert app_main(["project", "init", db_url]) == 1  # already a project
    assert "error: " in capsys.readouterr().err


def test_a_missing_project_or_input_exits_1(data: Path, capsys) -> None:
    assert main(["stats", str(data / "nope.db")]) == 1
    assert "nope.db: no such project file" in capsys.readouterr().err
    assert main(["init", str(data / "p.db")]) == 0
    assert main(["import-labels", str(data / "p.db"), str(data / "missing.txt"), "--format", "wider"]) == 1
    assert (f"error: {data / 'missing.txt'}: no such file (a WIDER FACE ground truth .txt file expected)"
            in capsys.readouterr().err)
    assert main(["import-images", str(data / "p.db"), str(data / "nowhere")]) == 1
    assert main(["export", str(data / "p.db"), str(data / "preds"), "--format", "wider-predictions"]) == 1
    assert "no detection runs" in capsys.readouterr().err
    (data / "not-a-db.db").write_text("hello, I am not a database\n" * 100)
    assert main(["stats", str(data / "not-a-db.db")]) == 1
    assert f"error: {data / 'not-a-db.db'}: not a project database" in capsys.readouterr().err


def test_import_images_reports_progress_and_problems(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    png = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    for i in range(1001):  # bytes after the PNG's end make each file's content unique
        (folder / f"{i:04d}.png").write_bytes(png + i.to_bytes(2, "big"))
    (folder / "copy.png").write_bytes(png + (7).to_bytes(2, "big"))
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "skip.gif").write_bytes(b"GIF89a")
    db = tmp_path / "p.db"
    assert main(["init", str(db)]) == 0
    capsys.readouterr()
    assert main(["import-images", str(db), str(folder), "--ext", ".png", "--ext", "gif"]) == 0
    out, err = capsys.readouterr()
    assert "import-images: 1000/1004 files" in err and "import-images: 1004/1004 files" in err
    assert "1004 image files found: 1001 added, 0 already in the project, 1 duplicates skipped, 2 unreadable" in out
    assert "copy.png: duplicate of 0007.png" in out
    assert "broken.png: " in out and "skip.gif: " in out
    assert main(["import-images", str(db), str(folder)]) == 0  # again: default extensions, nothing new
    assert "1003 image files found: 0 added, 1001 already in the project" in capsys.readouterr().out


def test_export_formats_and_status_options(db_url: str, data: Path, capsys) -> None:
    assert main(["init", db_url]) == 0
    assert main(["import-images", db_url, str(data / "images")]) == 0
    assert main(["import-labels", db_url, str(data / "gt.txt"), "--format", "wider"]) == 0
    capsys.readouterr()
    assert main(["export", db_url, str(data / "all.txt"), "--format", "wider", "--status", "all"]) == 0
    assert [r.name for r in wider.read_gt(data / "all.txt")] == ["ev/a.png", "ev/b.png", "ev/c.png"]
    assert main(["export", db_url, str(data / "new.txt"), "--format", "wider", "--status", "new"]) == 0
    assert [r.name for r in wider.read_gt(data / "new.txt")] == ["ev/c.png"]
    assert main(["export", db_url, str(data / "df"), "--format", "darkface"]) == 0
    assert sorted(p.name for p in (data / "df").iterdir()) == ["a.txt", "b.txt"]
    assert "ignored faces written as faces" in capsys.readouterr().err
    assert main(["export", db_url, str(data / "gt.json"), "--format", "coco"]) == 0
    assert len(json.loads((data / "gt.json").read_text())["annotations"]) == 2
    assert main(["export", db_url, str(data / "df"), "--format", "wider"]) == 1  # a folder, not a file
    assert "is a folder" in capsys.readouterr().err


def test_add_project_parser_plugs_into_another_command_line(data: Path, capsys) -> None:
    import argparse

    from app.store.cli import add_project_parser, run

    parser = argparse.ArgumentParser(prog="tool")
    add_project_parser(parser.add_subparsers(dest="tool_command"))
    assert main(["init", str(data / "p.db")]) == 0
    assert run(parser.parse_args(["project", "stats", str(data / "p.db"), "--json"])) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["images"] == 0
    assert run(parser.parse_args(["project", "stats", str(data / "nope.db")])) == 1
