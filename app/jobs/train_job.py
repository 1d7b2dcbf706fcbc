"""Fine-tuning from the app: ``srn train`` in its own process, watched through ``QProcess``.

Training takes minutes to hours and all the CPU (or GPUs) it can get; in a separate process it
cannot freeze or crash the window, a ``kill -9`` of it costs only that run, and ``SIGTERM``
(Cancel) makes ``srn train`` stop after the current iteration with a resumable ``last.pth``.
Under several CUDA GPUs the process is ``python -m torch.distributed.run`` (DDP, one rank per
GPU). The job:

* fixes the held-out split (``ensure_validation_split``) and exports the labels to manifests in
  the run folder (``training_export``), writes ``config.json`` there and records the run;
* runs ``python -m srn train --out RUN --config RUN/config.json --init BASE`` (or ``--resume
  RUN/last.pth``), appends all of its output to ``RUN/train.log`` and re-emits it line by line,
  and turns its JSON progress lines into ``progress(dict)`` (``iter``, ``epoch``, the loss terms
  ``cls1 box1 cls2 box2 total``, ``lr``, ``images_per_s``, ``eta_s``, as ``srn.engine.train``
  emits them);
* on exit 0 with ``final.pth``: registers the model version (parent = the base model version,
  metrics = the held-out metrics stored in the checkpoint) and marks the run finished, in one
  transaction; on any other end marks the run failed (log kept, nothing else touched) or, after
  ``cancel()``, cancelled.

The run folder is ``<project folder>/.darkface-studio/runs/<run id>/`` (``run_folder``).
The process id and host are stored with the run, so a run whose app died with it is found and
marked failed the next time the project is opened (``fail_orphaned_runs``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from app.jobs.processes import is_srn_process, kill_process_tree, new_session_supported
from app.jobs.train_estimate import resolve_device, throughput_key
from app.store.detections import model_versions
from app.store.errors import StoreError
from app.store.project import PROJECT_DIR, Project
from app.store.training import (
    ensure_validation_split,
    finish_training_run,
    get_training_run,
    mark_training_run,
    start_training_run,
    training_runs,
    unique_model_name,
    update_training_run,
)

LOG_FILE = "train.log"
CONFIG_FILE = "config.json"
LAST, FINAL = "last.pth", "final.pth"
TAIL_LINES = 40
ORPHANED = "the app that watched this run ended before the run did; its log is kept"


def _frozen(frozen: bool | None) -> bool:
    return bool(getattr(sys, "frozen", False)) if frozen is None else bool(frozen)


def srn_command(frozen: bool | None = None) -> list[str]:
    """How to start the ML command line: ``python -m srn``, or in a frozen (PyInstaller) app,
    the app's own executable with ``srn`` as its first argument (``app.main`` hands it over).
    ``frozen``: whether the app is frozen (default: ``sys.frozen``)."""
    if _frozen(frozen):
        return [sys.executable, "srn"]
    return [sys.executable, "-m", "srn"]


def train_command(procs: int, run_dir: str | os.PathLike[str], extra: Sequence[str] = (),
                  frozen: bool | None = None) -> list[str]:
    """``[program, *arguments]`` of ``srn train`` for the run in ``run_dir`` (``extra``: e.g.
    ``--init BASE`` or ``--resume LAST``).

    Several processes (one DDP rank per GPU) run under ``python -m torch.distributed.run
    --standalone --nproc_per_node N -m srn train ...``; a frozen app has no
    ``torch.distributed.run``, so it always runs one process (``APP srn train ...``).
    """
    frozen = _frozen(frozen)
    program, *args = srn_command(frozen)
    run_dir = Path(run_dir)
    args += ["train", "--out", str(run_dir), "--config", str(run_dir / CONFIG_FILE), *extra]
    if int(procs) > 1 and not frozen:
        args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(int(procs)), *args]
    return [program, *args]


def describe_error(exc: BaseException) -> str:
    """A one-line reason naming the file or folder where there is one."""
    if isinstance(exc, TrainJobError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
        return f"{where}: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, (OSError, StoreError, ValueError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def fail_orphaned_runs(project: Project, keep: set[int] = frozenset()) -> list[int]:
    """Mark failed the runs recorded as running on this host whose process is gone (a crash or
    a killed app); runs in ``keep`` (watched by this app) and runs on other hosts are left alone."""
    failed = []
    for run in training_runs(project, statuses=("queued", "running")):
        if run.id in keep or run.config.get("host") != platform.node():
            continue
        pid = run.config.get("pid")
        if isinstance(pid, int) and is_srn_process(pid):
            continue
        mark_training_run(project, run.id, "failed", metrics={"error": ORPHANED})
        failed.append(run.id)
    return failed


DEFAULTS = {"iterations": 1000, "batch_size": 8, "size": 640, "device": "auto", "workers": 2, "lr": 0.003,
            "val_fraction": 0.2, "pseudo_labels": None, "enhance": None}
"""Settings a job falls back on (the dialog fills all of them)."""


def progress_records(log_path: str | os.PathLike[str] | None, limit_bytes: int = 64 << 20) -> list[dict]:
    """The ``{"iter": ...}`` records a run's ``train.log`` holds, in order, over every resume
    (the log is appended to), so a curve drawn from them starts at iteration 0. A missing or
    unreadable log gives ``[]``; lines that are not records (tracebacks, events) are skipped."""
    if not log_path:
        return []
    try:
        with open(log_path, "rb") as fh:
            data = fh.read(limit_bytes)
    except OSError:
        return []
    records = []
    for raw in data.splitlines():
        if not raw.startswith(b"{"):
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and "iter" in record and "event" not in record:
            records.append(record)
    return records


class TrainJobError(RuntimeError):
    """A run that cannot start (no labels, bad base checkpoint, no run folder); names the cause."""


# -- where runs live -------------------------------------------------------------------------


def runs_root(project: Project, folder: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding a project's run folders.

    ``folder`` (the caller's choice) wins; a folder project (``FOLDER/.darkface-studio/project.db``)
    keeps runs in ``FOLDER/.darkface-studio/runs``; another SQLite file ``DIR/NAME.db`` in
    ``DIR/.darkface-studio/runs/NAME`` (so two project files in one folder never share run ids);
    a database server needs ``folder``.
    """
    if folder is not None:
        return Path(folder).expanduser().resolve()
    db = project.path
    if db is None:
        raise TrainJobError(f"{project.url}: a project on a database server needs a folder for its training runs")
    db = Path(db).expanduser().resolve()
    if db.parent.name == PROJECT_DIR:
        return db.parent / "runs"
    return db.parent / PROJECT_DIR / "runs" / db.stem


def run_folder(project: Project, run_id: int, folder: str | os.PathLike[str] | None = None) -> Path:
    return runs_root(project, folder) / str(run_id)


# -- configuration -----------------------------------------------------------------------------


def base_model_config(checkpoint: str | os.PathLike[str]) -> dict:
    """The SRN config (backbone, channels) stored in a checkpoint; the authors' defaults otherwise."""
    from srn.engine.checkpoint import read_checkpoint_file, split_checkpoint, srn_config_of

    _, metadata = split_checkpoint(read_checkpoint_file(checkpoint), checkpoint)  # weights_only=True inside
    return srn_config_of(metadata, checkpoint).to_dict()


def train_config(settings: dict, export, model: dict, device: str, enhance_cache: Path | None) -> dict:
    """The ``srn train`` config (a checked ``TrainConfig`` as JSON) for the dialog's settings."""
    from srn.engine.train_config import TrainConfig

    iterations = int(settings["iterations"])
    data = dict(
        data=export.data_specs(), val=export.val_specs(), enhance=settings.get("enhance"),
        enhance_cache=str(enhance_cache) if settings.get("enhance") and enhance_cache else None,
        backbone=model["backbone"], channels=model["channels"], size=int(settings["size"]),
        batch_size=int(settings["batch_size"]), lr=float(settings["lr"]), max_iters=iterations,
        epochs=max(1, iterations),  # max_iters ends the run; epochs only has to be enough
        lr_steps=[], warmup_iters=min(100, iterations // 5), workers=int(settings["workers"]), device=device,
        log_every=max(1, min(20, iterations // 100)), checkpoint_every=max(50, iterations // 10),
    )
    data.update(settings.get("train_config") or {})  # expert overrides of any TrainConfig field
    return TrainConfig.from_dict(data, where="fine-tuning settings").to_dict()


def _python_env(extra: dict | None) -> QProcessEnvironment:
    """The app's environment, with this ``srn`` importable and output unbuffered."""
    import srn

    env = QProcessEnvironment.systemEnvironment()
    root = str(Path(srn.__file__).resolve().parent.parent)
    old = env.value("PYTHONPATH", "")
    env.insert("PYTHONPATH", root + (os.pathsep + old if old else ""))
    env.insert("PYTHONUNBUFFERED", "1")
    for key, value in (extra or {}).items():
        env.insert(str(key), str(value))
    return env


def _finish_message(code: int, crashed: bool, tail: list[str]) -> str:
    reason = next((line for line in reversed(tail) if line.startswith("srn train:")), None)
    if reason is None:
        reason = next((line for line in reversed(tail) if "Error" in line), None)
    how = "was killed or crashed" if crashed else f"exited with status {code}"
    return f"training {how}" + (f": {reason}" if reason else "")


# -- the job -----------------------------------------------------------------------------------


class TrainJob(QObject):
    """One ``srn train`` process for one run; ``start()`` a new run or ``resume(run_id)`` one.

    Exactly one of ``finished(run_id, model_version_id)``, ``failed(run_id, message)`` or
    ``cancelled(run_id)`` ends each process. Parent the job to the application (it outlives a
    closed panel); ``stop()`` stops it gracefully and waits, for the window's close.
    """

    started = Signal(int)
    progress = Signal(dict)
    log_line = Signal(str)
    finished = Signal(int, int)
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, project: Project, settings: dict | None = None, *, runs_folder=None, env: dict | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.settings = {**DEFAULTS, **(settings or {})}
        self.runs_folder = runs_folder
        self.env = dict(env or {})
        self.run_id: int | None = None
        self.run_dir: Path | None = None
        self.records: list[dict] = []
        self._process: QProcess | None = None
        self._log = None
        self._buffers = {"out": b"", "err": b""}
        self._tail: list[str] = []
        self._last_event: dict | None = None
        self._cancel_requested = False
        self._ended = False
        self._config: dict = {}
        self._pgid: int | None = None
        self.new_session = True
        """Start the process in a session of its own where Qt can (``new_session_supported``)."""

    # -- starting --------------------------------------------------------------------------
    def start(self) -> int:
        """Export the labels, record the run and launch ``srn train``; returns the run id.

        Raises ``TrainJobError`` when the run cannot start: before the run is recorded nothing
        is left behind (no staging folder); after, the run is marked failed with the reason.
        """
        from app.jobs.training_export import (
            ExportError,
            TrainingExport,
            export_training_set,
        )
        from srn.engine.checkpoint import CheckpointError
        from srn.engine.device import DeviceError
        from srn.engine.train_config import ConfigError

        if self.is_running():
            raise TrainJobError("this job is already running")
        s = self.settings
        base = s.get("base_checkpoint")
        if not base:
            raise TrainJobError("choose a base model to fine-tune")
        base = Path(base).expanduser().resolve()
        try:
            model = base_model_config(base)
            device, device_name, procs = resolve_device(s["device"])
        except (CheckpointError, DeviceError, ValueError, OSError) as exc:
            raise TrainJobError(describe_error(exc)) from None
        staging = None
        try:
            parent_id = s.get("base_model_id")
            if parent_id is None:  # a weights file the project already knows is still its version
                parent_id = next((m.id for m in model_versions(self.project) if Path(m.checkpoint_path) == base), None)
            split = ensure_validation_split(self.project, float(s["val_fraction"]))
            root = runs_root(self.project, self.runs_folder)
            staging = root / f".new-{os.getpid()}-{time.time_ns()}"
            export = export_training_set(self.project, staging, pseudo=s.get("pseudo_labels"))
            record = {
                "settings": {k: v for k, v in s.items() if k != "train_config"} | {"base_checkpoint": str(base)},
                "base": {"checkpoint": str(base), "model_version_id": parent_id,
                         "name": s.get("base_name") or base.stem},
                "parent_id": parent_id, "device": device, "device_name": device_name, "processes": procs,
                "model": {"backbone": model["backbone"], "channels": model["channels"]},
                "split": {"train": split.train, "val": split.val}, "export": export.summary,
                "host": platform.node(),
            }
            run_id = start_training_run(self.project, record, status="queued")
        except (ExportError, OSError, StoreError, TrainJobError) as exc:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            raise TrainJobError(describe_error(exc)) from None
        run_dir = root / str(run_id)
        try:
            if run_dir.exists():  # left by an older database with the same run ids: keep it aside
                run_dir.rename(run_dir.with_name(f"{run_id}.old-{time.strftime('%Y%m%d-%H%M%S')}"))
            staging.rename(run_dir)
            export = TrainingExport(  # the same files, now in run_dir
                train=run_dir / export.train.name, val=run_dir / export.val.name if export.val else None,
                pseudo=run_dir / export.pseudo.name if export.pseudo else None, summary=export.summary)
            config = train_config(s, export, model, device, root / ".enhance-cache")
            from srn.fileio import atomic_write_text

            atomic_write_text(run_dir / CONFIG_FILE, json.dumps(config, indent=1))
            update_training_run(self.project, run_id, config={"run_dir": str(run_dir), "train_config": config})
        except (ConfigError, OSError, StoreError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            self._mark_failed(run_id, describe_error(exc))
            raise TrainJobError(describe_error(exc)) from None
        self._launch(run_id, run_dir, config, ["--init", str(base)], resumed=False)
        return run_id

    def resume(self, run_id: int, *, max_iters: int | None = None) -> int:
        """Continue a cancelled or failed run from its ``last.pth`` (``max_iters``: a new end)."""
        if self.is_running():
            raise TrainJobError("this job is already running")
        try:
            run = get_training_run(self.project, run_id)
            if run.status not in ("cancelled", "failed"):
                raise TrainJobError(f"training run {run_id} is {run.status}; only a cancelled or failed run resumes")
            run_dir = Path(run.config.get("run_dir") or run_folder(self.project, run_id, self.runs_folder))
            last = run_dir / LAST
            if not last.is_file():
                raise TrainJobError(f"{last}: no checkpoint to resume from (the run stopped before writing one)")
            config = run.config.get("train_config")
            if config is None:
                config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, StoreError, ValueError) as exc:  # ValueError: a damaged config.json
            raise TrainJobError(describe_error(exc)) from None
        extra = ["--resume", str(last)]
        if max_iters is not None:
            extra += ["--set", f"max_iters={int(max_iters)}"]
            config = {**config, "max_iters": int(max_iters)}
        self._launch(run_id, run_dir, config, extra, resumed=True)
        return run_id

    def _launch(self, run_id: int, run_dir: Path, config: dict, extra: list[str], *, resumed: bool) -> None:
        """Start the process; on any failure before it runs, the run is marked failed (reason in
        its log where the log could be opened) and ``TrainJobError`` raised."""
        try:
            run = get_training_run(self.project, run_id)
        except StoreError as exc:
            raise TrainJobError(describe_error(exc)) from None
        procs = int(run.config.get("processes", 1))
        program, *args = train_command(procs, run_dir, extra)
        self.run_id, self.run_dir, self._config = run_id, run_dir, config
        self.records, self._tail, self._last_event = [], [], None
        self._cancel_requested, self._ended, self._pgid = False, False, None
        self._buffers = {"out": b"", "err": b""}
        new_session = self.new_session and new_session_supported()
        try:
            self._log = open(run_dir / LOG_FILE, "a", encoding="utf-8")  # noqa: SIM115 - open while the process runs
            self._write_log(f"=== {'resumed' if resumed else 'started'} {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                            f"{program} {' '.join(args)}")
            mark_training_run(self.project, run_id, "running", log_path=run_dir / LOG_FILE,
                              config={"command": [program, *args], "host": platform.node(), "pid": None})
            process = QProcess(self)
            process.setProgram(program)
            process.setArguments(args)
            process.setWorkingDirectory(str(run_dir))
            process.setProcessEnvironment(_python_env(self.env))
            if new_session:  # its own process group: a second Cancel kills torchrun and every rank
                process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
            process.readyReadStandardOutput.connect(lambda: self._read("out"))
            process.readyReadStandardError.connect(lambda: self._read("err"))
            process.finished.connect(self._on_finished)
            process.errorOccurred.connect(self._on_error)
            self._process = process
        except Exception as exc:  # noqa: BLE001 - whatever it is, the run must not stay "running"
            text = f"cannot start training: {describe_error(exc)}"
            self._write_log(f"=== failed: {text}")
            self._close()
            self._process = None
            self._mark_failed(run_id, text)
            raise TrainJobError(text) from None
        process.start()
        if process.waitForStarted(10_000):
            pid = int(process.processId())
            self._pgid = pid if new_session else None  # the session leader's pid is the group's id
            try:
                update_training_run(self.project, run_id, config={"pid": pid})
            except StoreError as exc:  # the process runs: it will end the run; only the pid is not kept
                self._write_log(f"=== could not record the process id: {exc}")
        self.started.emit(run_id)

    def _mark_failed(self, run_id: int, text: str) -> None:
        try:
            mark_training_run(self.project, run_id, "failed", metrics={"error": text})
        except StoreError:
            pass  # the store is gone: the run is found as orphaned when the project opens again

    # -- control ---------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning

    def process_id(self) -> int | None:
        return int(self._process.processId()) if self.is_running() else None

    def process_group(self) -> int | None:
        """The id of the training process's own process group (None when it has none)."""
        return self._pgid

    def cancel(self) -> None:
        """Ask ``srn train`` to stop (SIGTERM: it writes ``last.pth`` first); a second call kills it.

        The first SIGTERM goes to the started process only: ``torchrun`` forwards it to each
        rank itself (a rank that got it twice would stop at once, without ``last.pth``), and
        ``srn train`` ends its data-loader workers. The second call kills the process and all
        its descendants (``kill_process_tree``: torchrun's ranks run in sessions of their own)
        and, where it has one (``new_session_supported``), its whole process group, so no rank
        or worker is left running; on Windows the started process.
        """
        if not self.is_running():
            return
        if self._cancel_requested:
            self._write_log("=== cancel requested again: killing the training process"
                            + (" group" if self._pgid is not None else ""))
            self._kill()
            return
        self._cancel_requested = True
        self._write_log("=== cancel requested (SIGTERM)")
        self._process.terminate()

    def _kill(self) -> None:
        if os.name == "posix" and self.is_running():  # torchrun's ranks have sessions of their own
            kill_process_tree(int(self._process.processId()))
        if self._pgid is not None:
            try:
                os.killpg(self._pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.is_running():
            self._process.kill()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        return self._process.waitForFinished(timeout_ms) if self.is_running() else True

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Stop the run gracefully and wait for the process (the window calls this when it
        closes): SIGTERM unless a cancel was already requested, then up to ``timeout_ms``; a
        process still running then is killed (its group too). Returns whether it ended in time."""
        if not self.is_running():
            return True
        if not self._cancel_requested:
            self.cancel()
        if self.wait(timeout_ms):
            return True
        self.cancel()  # the second request: kill
        self.wait(5_000)
        return False

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @property
    def config(self) -> dict:
        """The ``srn train`` config of the current process (``max_iters``, ``size``, ...)."""
        return dict(self._config)

    def resumable(self) -> bool:
        return self.run_dir is not None and (self.run_dir / LAST).is_file()

    # -- output ----------------------------------------------------------------------------
    def _read(self, channel: str) -> None:
        process = self._process
        if process is None:
            return
        data = bytes(process.readAllStandardOutput() if channel == "out" else process.readAllStandardError())
        buffer = self._buffers[channel] + data
        *lines, rest = buffer.split(b"\n")
        self._buffers[channel] = rest
        for raw in lines:
            self._line(raw.decode("utf-8", "replace").rstrip("\r"), channel)

    def _line(self, text: str, channel: str) -> None:
        self._write_log(text)
        self._tail = (self._tail + [text])[-TAIL_LINES:]
        self.log_line.emit(text)
        if channel != "out" or not text.startswith("{"):
            return
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        if "event" in record:
            self._last_event = record
        elif "iter" in record:
            self.records.append(record)
            self.progress.emit(record)

    def _write_log(self, text: str) -> None:
        if self._log is not None:
            self._log.write(text + "\n")
            self._log.flush()

    # -- the end ---------------------------------------------------------------------------
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(-1, True, f"cannot start {sys.executable}: {self._process.errorString()}")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        for channel in ("out", "err"):
            self._read(channel)
            if self._buffers[channel]:
                self._line(self._buffers[channel].decode("utf-8", "replace"), channel)
                self._buffers[channel] = b""
        if self._pgid is not None:  # ranks or workers outliving their leader (e.g. torchrun killed): end them
            try:
                os.killpg(self._pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._end(code, status == QProcess.ExitStatus.CrashExit)

    def _throughput(self) -> dict:
        rates = [r["images_per_s"] for r in self.records[1:] or self.records if r.get("images_per_s")]
        if not rates:
            return {}
        run = get_training_run(self.project, self.run_id)
        key = throughput_key(run.config.get("device_name", ""), self._config.get("backbone"),
                              self._config.get("channels"))
        return {"throughput": {**key, "size": self._config.get("size"), "batch_size": self._config.get("batch_size"),
                               "images_per_s": sorted(rates)[len(rates) // 2]}}

    def _end(self, code: int, crashed: bool, message: str | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        run_id = self.run_id
        last = self.records[-1] if self.records else {}
        metrics = {**self._throughput(), "last_iter": last.get("iter"), "last_loss": last.get("total")}
        final = self.run_dir / FINAL
        done = (not crashed and code == 0 and self._last_event is not None
                and self._last_event.get("event") == "done" and final.is_file())
        try:
            if done and not self._cancel_requested:
                version = self._register(final, metrics)
                self._write_log(f"=== finished: model version {version.id} {version.name!r}")
                self._close()
                self.finished.emit(run_id, version.id)
            elif self._cancel_requested or (not crashed and code == 0 and self._last_event is not None
                                            and self._last_event.get("event") == "stopped"):  # SIGTERM from elsewhere
                mark_training_run(self.project, run_id, "cancelled", metrics={**metrics, "resumable": self.resumable()})
                self._write_log("=== cancelled" + (" (resumable from last.pth)" if self.resumable() else ""))
                self._close()
                self.cancelled.emit(run_id)
            else:
                text = message or _finish_message(code, crashed, self._tail)
                self._fail(run_id, text, metrics)
        except Exception as exc:  # noqa: BLE001 - the store refused (name taken, database gone): say so
            self._fail(run_id, f"training ended but the result could not be recorded: {exc}", metrics)

    def _fail(self, run_id: int, text: str, metrics: dict) -> None:
        self._write_log(f"=== failed: {text}")
        try:
            mark_training_run(self.project, run_id, "failed",
                              metrics={**metrics, "error": text, "resumable": self.resumable()})
        finally:
            self._close()
            self.failed.emit(run_id, text)

    def _register(self, final: Path, metrics: dict):
        from srn.engine.checkpoint import read_checkpoint_file, split_checkpoint

        _, meta = split_checkpoint(read_checkpoint_file(final), final)  # torch.load(weights_only=True)
        run = get_training_run(self.project, self.run_id)
        base = run.config.get("base", {})
        name = unique_model_name(self.project, f"{base.get('name') or 'model'} ft{self.run_id}")
        model_metrics = {**meta.metrics, "training_data": meta.training_data}
        return finish_training_run(self.project, self.run_id, final, name=name, parent_id=run.config.get("parent_id"),
                                   metrics=model_metrics, run_metrics={**metrics, **meta.metrics})

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


__all__ = ["DEFAULTS", "TrainJob", "TrainJobError", "base_model_config", "describe_error", "fail_orphaned_runs",
           "progress_records",
           "run_folder", "runs_root", "srn_command", "train_command", "train_config"]
