"""Atomic writes: all or nothing, and the file mode a plain write would give."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from srn.fileio import atomic_write_bytes, atomic_write_text


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_the_file_gets_the_mode_of_a_plain_write(tmp_path: Path, umask: int, monkeypatch) -> None:
    import srn.fileio

    monkeypatch.setattr(srn.fileio, "_umask", None)  # read again under this test's umask
    old = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")
        atomic_write_text(tmp_path / "atomic.txt", "x")
    finally:
        os.umask(old)
        monkeypatch.setattr(srn.fileio, "_umask", None)
    mode = stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
