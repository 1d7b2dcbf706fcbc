"""``srn train``: train or fine-tune SRN (``srn.engine.train``).

Progress goes to stdout as JSON lines (one per log interval, then ``{"event": "done" |
"stopped", "checkpoint": ...}``), human-readable messages to stderr. SIGINT / SIGTERM stop the
run after the current iteration with a resumable checkpoint written (``OUT/last.pth``); a second
signal interrupts at once. Under ``torchrun`` every rank runs this command; only rank 0 writes.

Exit status: 0 done or stopped cleanly; 1 the data or a checkpoint cannot be used; 2 usage or
config error.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``train`` on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune an SRN face detector",
        description=(
            "Train SRN on the data specs of a JSON config (darkface / wider / manifest), or fine-tune "
            "from --init. Settings come from --config and --set key=value (JSON values; dotted keys "
            "for dict settings, e.g. pseudo_labels.threshold=0.9). Progress: JSON lines on stdout. "
            "Run under 'torchrun --nproc_per_node N -m srn train ...' for DistributedDataParallel. "
            "Exit status: 0 done or stopped, 1 unusable data or checkpoint, 2 usage error."
        ),
    )
    _arguments(p)
    p.set_defaults(func=run)
    return p


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="folder for last.pth (resumable) and final.pth")
    p.add_argument("--config", metavar="FILE", help="JSON settings (see srn.engine.train_config)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting (repeatable)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--init", metavar="CKPT",
                       help="start from these weights (ours, the authors' SRN.pth, or 'demo')")
    group.add_argument("--resume", metavar="CKPT", help="continue an interrupted run from its last.pth")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")


class _StopFlag:
    """Set by the first SIGINT/SIGTERM; a second one raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logging.getLogger("srn.train").warning("%s: stopping after this iteration (checkpoint follows)",
                                               signal.Signals(signum).name)

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def __call__(self) -> bool:
        return self.requested


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def run(args: argparse.Namespace) -> int:
    """Run ``srn train`` for parsed ``args``; returns the exit status."""
    from srn.data.datasets import DatasetError
    from srn.data.manifest import ManifestError
    from srn.engine.checkpoint import CheckpointError
    from srn.engine.device import DeviceError
    from srn.engine.shipped_models import resolve_weights
    from srn.engine.train import LAST, TrainingError, resume_config, run_training
    from srn.engine.train_config import ConfigError, load_config
    from srn.formats.errors import FormatError

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("srn train: %(message)s"))
    logger = logging.getLogger("srn.train")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    logger.propagate = False
    try:
        if args.resume and not args.config:
            config = resume_config(args.resume).with_overrides(args.assignments)
        else:
            config = load_config(args.config, args.assignments)
        with _StopFlag() as stop:
            init = resolve_weights(args.init) if args.init else None
            run_training(config, Path(args.out), init=init, resume=args.resume, emit=_emit, stop=stop)
    except (ConfigError, DeviceError) as exc:
        print(f"srn train: {exc}", file=sys.stderr)
        return 2
    except (CheckpointError, DatasetError, ManifestError, FormatError, TrainingError, FileNotFoundError) as exc:
        print(f"srn train: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk or an unwritable --out, met while saving
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"srn train: cannot write {where}{exc.strerror or exc}", file=sys.stderr)
        last = Path(args.out) / LAST
        if last.is_file():
            print(f"srn train: {last} is the last complete checkpoint; make room, then continue with "
                  f"--resume {last}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="srn train", description="train or fine-tune SRN")
    _arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
