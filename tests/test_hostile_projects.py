"""Hostile project files (issue 20, item 10): an empty, foreign, damaged or read-only project
database gets a message naming the file, from the command line and in the window; read-only
use works; nothing is created or changed behind the user's back."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.store import NotAProjectError, Project, ReadOnlyProjectError, import_images, project_stats

ROOT = Path(__file__).resolve().parents[1]
RUN_MAIN = "import sys; from app.main import main; sys.exit(main(sys.argv[1:]))"


def _cli(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUN_MAIN, "project", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project_file(tmp_path, write_images) -> Path:
    write_images(tmp_path / "images", ["a.png", "b.png"])
    with Project.create(tmp_path / "p.db") as project:
        import_images(project, tmp_path / "images")
    return tmp_path / "p.db"


def _immutable(path: Path):
    """``chattr +i``: not even root may write ``path`` (the test suite may run as root, where
    file modes do not stop writes). Skips where the file system or the process cannot do it."""
    if shutil.which("chattr") is None:
        pytest.skip("no chattr here")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not possible here: {done.stderr.strip()}")


@pytest.fixture
def release():
    held: list[Path] = []
    yield held.append
    for path in held:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_an_empty_file_is_not_silently_made_a_project(tmp_path):
    empty = tmp_path / "project.db"
    empty.touch()
    done = _cli("stats", empty)
    assert done.returncode == 1
    assert f"error: {empty}: empty file (0 bytes), not a project database" in done.stderr
    assert empty.stat().st_size == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["project.db"]


def test_a_foreign_file_is_named(tmp_path):
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"just some text, not SQLite\n" * 100)
    with pytest.raises(NotAProjectError, match="not a project database"):
        Project.open(foreign)
    done = _cli("stats", foreign)
    assert done.returncode == 1 and f"error: {foreign}: not a project database" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_truncated_database_is_named(tmp_path, project_file):
    cut = tmp_path / "cut.db"
    cut.write_bytes(project_file.read_bytes()[:3000])
    done = _cli("stats", cut)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{cut}: cannot open the project database: database disk image is malformed" in done.stderr


def test_a_read_only_project_file_can_be_read_but_not_changed(project_file, release, tmp_path, write_images):
    write_images(tmp_path / "new", ["c.png"])
    before = _digest(project_file)
    _immutable(project_file)
    release(project_file)
    done = _cli("stats", project_file)
    assert done.returncode == 0, done.stderr
    assert "images: 2" in done.stdout
    out = tmp_path / "export" / "gt.txt"
    assert _cli("export", project_file, out, "--format", "wider").returncode == 0 and out.is_file()
    with Project.open(project_file) as project:
        assert project.read_only and project_stats(project).images == 2
        with pytest.raises(ReadOnlyProjectError, match=str(project_file)):
            import_images(project, tmp_path / "new")
    done = _cli("import-images", project_file, tmp_path / "new")
    assert done.returncode == 1 and f"error: {project_file}: opened read-only" in done.stderr
    assert _digest(project_file) == before


def test_a_project_in_a_read_only_folder_can_be_read(project_file, release):
    folder = project_file.parent
    _immutable(folder)
    release(folder)
    done = _cli("stats", project_file)
    assert done.returncode == 0, done.stderr
    assert "images: 2" in done.stdout
    assert not project_file.with_name("p.db-shm").exists()


def test_the_window_names_a_damaged_or_read_only_project_and_keeps_what_it_shows(
        review_window, project_file, tmp_path, release, write_images):
    window = review_window
    assert window.open_project(project_file)
    shown = window.windowTitle()

    foreign = tmp_path / "other.db"
    foreign.write_bytes(b"\x00" * 4096)
    assert not window.open_project(foreign)
    assert f"{foreign}: not a project database" in window.notice.text()
    assert window.notice.kind() == "error"
    assert window.windowTitle() == shown

    write_images(tmp_path / "more", ["c.png"])
    locked = tmp_path / "locked.db"
    with Project.create(locked) as project:
        import_images(project, tmp_path / "more")
    _immutable(locked)
    release(locked)
    assert not window.open_project(locked)
    message = window.notice.text()
    assert str(locked) in message and "cannot write" in message
    assert window.windowTitle() == shown
    assert window.browser_model.rowCount() == 2  # the project it showed is still there
