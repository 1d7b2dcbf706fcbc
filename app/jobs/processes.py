"""Child processes of the app: the training process's tree, and whether a recorded pid still runs.

``srn train`` may run as ``torchrun`` with one rank per GPU, each in a session of its own, so
stopping it for sure means finding every descendant; and a run recorded as running must be
checked against the live processes when its app is gone. POSIX-first, with graceful fallbacks.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from PySide6.QtCore import QProcess


def new_session_supported() -> bool:
    """Whether the training process can get a session (and process group) of its own: Qt 6.6+
    ``QProcess.setUnixProcessParameters`` with ``CreateNewSession``, on a POSIX system. Then a
    second Cancel kills the whole group (``torchrun`` and every rank, data-loader workers)."""
    flags = getattr(QProcess, "UnixProcessFlag", None)
    return (os.name == "posix" and hasattr(os, "killpg") and hasattr(QProcess, "setUnixProcessParameters")
            and flags is not None and hasattr(flags, "CreateNewSession"))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, whatever their session (Linux: ``/proc``; elsewhere psutil
    where installed; otherwise ``pid`` alone)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if (proc / "self" / "stat").is_file():
        for stat in proc.glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
            children.setdefault(ppid, []).append(int(stat.parent.name))
    else:
        try:
            import psutil

            return [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
        except Exception:  # noqa: BLE001 - no psutil, or the process is gone
            return [pid]
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p not in tree:
            tree.append(p)
            todo.extend(children.get(p, []))
    return tree


def kill_process_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and all its descendants (POSIX); returns their ids.

    ``torchrun`` starts each rank in a session of its own, so killing the training process's
    group does not reach the ranks: the tree is stopped first (SIGSTOP, so that nothing forks
    or is handed to init unseen), collected again until complete, then killed.
    """
    stopped: list[int] = []
    for _ in range(20):
        new = [p for p in process_tree(pid) if p not in stopped]
        if not new:
            break
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except OSError:
                pass  # gone already
            stopped.append(p)
    for p in stopped:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return stopped


def is_srn_process(pid: int) -> bool:
    """Whether ``pid`` is alive here and (where the command line can be read) an ``srn`` process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's: leave it alone
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"srn" in cmdline.read_bytes()
    except OSError:
        return True  # no /proc (macOS, Windows): alive is all we can tell


__all__ = ["is_srn_process", "kill_process_tree", "new_session_supported", "process_tree"]
