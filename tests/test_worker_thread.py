"""The one background-work abstraction: request workers keep serving after a failure, drop what a
newer request replaces, stop cleanly; and no module of the app makes its own ``QThread``."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from PySide6.QtCore import Signal

from app.jobs.worker_thread import RequestWorker, ServiceThread

ROOT = Path(__file__).resolve().parents[1]
WAIT_MS = 10_000


class _Squares(RequestWorker):
    """Serves the latest list of numbers, squaring each; a negative number raises."""

    done = Signal(int, int)  # number, square
    failed = Signal(int, str)

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self._pending: list[int] = []
        self.gate = gate
        self.threads: set[int] = set()

    def submit(self, numbers: list[int]) -> None:
        with self._lock:
            self._pending = list(numbers)
            self._post()

    def _take(self):
        return self._pending.pop(0) if self._pending else None

    def _drop_pending(self) -> None:
        self._pending = []

    def _serve(self, number: int) -> None:
        self.threads.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait(WAIT_MS / 1000)
        if number < 0:
            raise ValueError(f"negative: {number}")
        self.done.emit(number, number * number)

    def _serve_failed(self, number: int, exc: Exception) -> None:
        self.failed.emit(number, str(exc))


def test_a_failing_request_is_reported_and_the_thread_serves_the_next(qtbot) -> None:
    worker = _Squares()
    service = ServiceThread(worker, "squares")
    done, failed = [], []
    worker.done.connect(lambda n, sq: done.append((n, sq)))
    worker.failed.connect(lambda n, message: failed.append((n, message)))
    try:
        worker.submit([2, -1, 3])
        qtbot.waitUntil(lambda: len(done) == 2 and worker.idle(), timeout=WAIT_MS)
        assert done == [(2, 4), (3, 9)] and failed == [(-1, "negative: -1")]
        assert service.is_running() and worker.threads and threading.get_ident() not in worker.threads
    finally:
        assert service.stop()
    assert not service.is_running()


def test_a_new_request_replaces_what_is_pending_and_stop_drops_the_rest(qtbot) -> None:
    gate = threading.Event()
    worker = _Squares(gate)
    service = ServiceThread(worker, "squares")
    done = []
    worker.done.connect(lambda n, sq: done.append(n))
    try:
        worker.submit([1, 2, 3])
        qtbot.waitUntil(lambda: worker.busy, timeout=WAIT_MS)  # 1 is being served, held at the gate
        worker.submit([7, 8])  # replaces 2 and 3
        gate.set()
        qtbot.waitUntil(lambda: worker.idle() and len(done) == 3, timeout=WAIT_MS)
        assert done == [1, 7, 8]

        gate.clear()
        worker.submit([4, 5, 6])
        qtbot.waitUntil(lambda: worker.busy, timeout=WAIT_MS)
        gate.set()
        assert service.stop()  # 4 finishes, 5 and 6 are dropped
        qtbot.wait(50)
        assert done[3:] in ([], [4]) and 5 not in done and 6 not in done
        assert not service.is_running()
        worker.submit([9])  # after stop: nothing runs
        qtbot.wait(50)
        assert 9 not in done
    finally:
        gate.set()
        service.stop()


def _makes_a_thread(tree: ast.AST) -> list[int]:
    """Lines that call ``QThread(...)``, ``threading.Thread(...)`` or subclass ``QThread``."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("QThread", "Thread"):
                lines.append(node.lineno)
        elif isinstance(node, ast.ClassDef):
            if any(getattr(base, "id", getattr(base, "attr", "")) == "QThread" for base in node.bases):
                lines.append(node.lineno)
    return lines


def test_no_module_of_the_app_makes_its_own_thread() -> None:
    """Background work goes through ``app.jobs.worker_thread`` (pools of tiny tasks excepted:
    thumbnails use Qt's ``QThreadPool``, read-ahead a ``ThreadPoolExecutor``)."""
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        if path == ROOT / "app" / "jobs" / "worker_thread.py":
            continue
        lines = _makes_a_thread(ast.parse(path.read_text(encoding="utf-8")))
        offenders += [f"{path.relative_to(ROOT)}:{line}" for line in lines]
    assert offenders == []
    assert _makes_a_thread(ast.parse("from PySide6.QtCore import QThread\nt = QThread()\n")) == [2]
