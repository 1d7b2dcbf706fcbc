"""Child processes of the app: the training process's tree, and whether a recorded pid still runs.

``srn train`` may run as ``torchrun`` with one rank per GPU, each in a session of its own, so
stopping it for sure means finding every descendant; and a run recorded as running must be
checked against the live processes when its app is gone. The process table is psutil's (Linux,
macOS, Windows); signals are POSIX.
"""

from __future__ import annotations

import os
import signal

import psutil
from PySide6.QtCore import QProcess


def new_session_supported() -> bool:
    """Whether the training process can get a session (and process group) of its own: Qt 6.6+
    ``QProcess.setUnixProcessParameters`` with ``CreateNewSession``, on a POSIX system. Then a
    second Cancel kills the whole group (``torchrun`` and every rank, data-loader workers)."""
    flags = getattr(QProcess, "UnixProcessFlag", None)
    return (os.name == "posix" and hasattr(os, "killpg") and hasattr(QProcess, "setUnixProcessParameters")
            and flags is not None and hasattr(flags, "CreateNewSession"))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, whatever their session (``[]`` once ``pid`` is gone)."""
    try:
        parent = psutil.Process(pid)
        return [pid, *(p.pid for p in parent.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []
    except psutil.Error:  # not ours to look into: the process alone
        return [pid]


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
    """Whether ``pid`` is alive here and (where its command line can be read) an ``srn`` process."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return any("srn" in part for part in process.cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # alive, someone else's (AccessDenied): leave it alone
        return True


__all__ = ["is_srn_process", "kill_process_tree", "new_session_supported", "process_tree"]
