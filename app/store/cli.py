"""``darkface-studio project ...``: the annotation store from the command line, without Qt.

Nothing on this path imports Qt, so the commands run on a headless server and start fast.
DB is a SQLite file path or a database URL (``postgresql+psycopg://user@host/db``).

Exit status: 0 done; 1 bad input or data (a malformed label file, a name that matches no image,
a missing project...: ``error: <message>`` on stderr, naming ``file:line`` where there is one);
2 a usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

PROG = "darkface-studio project"
_MAX_LINES = 20
"""Warnings / problems printed in full before the rest is summarised."""

DESCRIPTION = (
    "Manage a DarkFace Studio project database from the command line: create it, import image "
    "folders and label files, export the reviewed labels or a detection run, print statistics. "
    "DB is a SQLite file path or a database URL. Exit status: 0 done, 1 bad input or data, 2 usage error."
)


def _add_commands(parser: argparse.ArgumentParser) -> None:
    from app.store.export import EXPORT_FORMATS
    from app.store.labels import LABEL_FORMATS
    from app.store.tables import REVIEW_STATUSES
    from srn.formats.records import OUTSIDE_MODES

    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="create a new, empty project database",
                       description="Create a new, empty project database at DB (refuses one that already exists), "
                                   "optionally registering image folders as roots.")
    p.add_argument("db", metavar="DB", help="SQLite file path or database URL")
    p.add_argument("--root", action="append", default=[], metavar="FOLDER",
                   help="register FOLDER as an image root (repeatable); image paths are stored relative to a root")
    p.set_defaults(func=_init)

    p = sub.add_parser("import-images", help="add the image files of a folder (recursively)",
                       description="Add every image file under FOLDER (recursively; hidden folders skipped) to the "
                                   "project. FOLDER becomes an image root unless a root already holds it. Files "
                                   "already in the project, duplicates (same content) and unreadable files are "
                                   "skipped and listed. Progress goes to stderr every 1000 files.")
    p.add_argument("db", metavar="DB", help="SQLite file path or database URL of an existing project")
    p.add_argument("folder", metavar="FOLDER", help="folder of images")
    p.add_argument("--ext", action="append", metavar=".EXT",
                   help="file extension to take (repeatable; default: .png .jpg .jpeg .bmp .tif .tiff .webp)")
    p.add_argument("--split", metavar="NAME", help="set the split (e.g. train, val) of the added images")
    p.set_defaults(func=_import_images)

    p = sub.add_parser("import-labels", help="import a WIDER FACE, DARK FACE or COCO label file",
                       description="Import labels as accepted boxes (source 'imported'), all or nothing: the file "
                                   "is read and every image name matched to an image of the project before "
                                   "anything is written. Importing again replaces earlier imported boxes nobody "
                                   "edited. Labelled images are marked done unless --keep-status.")
    p.add_argument("db", metavar="DB", help="SQLite file path or database URL of an existing project")
    p.add_argument("source", metavar="FILE_OR_FOLDER",
                   help="WIDER FACE ground-truth .txt, DARK FACE label folder, or COCO JSON file")
    p.add_argument("--format", required=True, choices=LABEL_FORMATS, help="label format")
    p.add_argument("--outside", choices=OUTSIDE_MODES, default="clip",
                   help="boxes leaving the image: keep, clip (default; a box with nothing inside is dropped) "
                        "or reject (error)")
    p.add_argument("--allow-unmatched", action="store_true",
                   help="skip annotated images that are not in the project instead of failing")
    p.add_argument("--keep-status", action="store_true", help="do not mark the labelled images as done")
    p.set_defaults(func=_import_labels)

    p = sub.add_parser("export", help="export labels or a detection run (WIDER FACE, DARK FACE, COCO)",
                       description="Export the accepted boxes (labels) of the chosen images as a WIDER FACE "
                                   "ground-truth file (wider), a DARK FACE label folder (darkface) or COCO ground "
                                   "truth (coco); or the model boxes (proposed or accepted, with scores) of one "
                                   "detection run as a WIDER FACE predictions folder (wider-predictions). Images "
                                   "are those with review status done unless --status says otherwise; a chosen "
                                   "image without faces is written with zero faces.")
    p.add_argument("db", metavar="DB", help="SQLite file path or database URL of an existing project")
    p.add_argument("out", metavar="OUT", help="output file (wider, coco) or folder (darkface, wider-predictions)")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="output format")
    p.add_argument("--status", action="append", choices=(*REVIEW_STATUSES, "all"), metavar="STATUS",
                   help=f"export images with this review status (repeatable; {', '.join(REVIEW_STATUSES)} "
                        "or all; default: done)")
    p.add_argument("--split", metavar="NAME", help="export only images of this split")
    p.add_argument("--run", type=int, metavar="ID",
                   help="detection run to export (wider-predictions only; default: the latest run)")
    p.add_argument("--force", action="store_true",
                   help="replace OUT even if it exists and is not an export of this format")
    p.set_defaults(func=_export, export_parser=p)

    p = sub.add_parser("stats", help="print project statistics",
                       description="Print images by review status, boxes by source and state, faces (accepted "
                                   "boxes) per image, face sizes sqrt(w*h), model versions and detection runs.")
    p.add_argument("db", metavar="DB", help="SQLite file path or database URL of an existing project")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.set_defaults(func=_stats)


def add_project_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``project`` (with its commands) on ``subparsers`` of another parser; run the parsed
    arguments with ``run(args)``."""
    p = subparsers.add_parser("project", help="manage a project database (init, import, export, stats)",
                              description=DESCRIPTION)
    _add_commands(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    _add_commands(parser)
    return parser


def _open(db: str):
    from app.store.project import Project

    project = Project.open(db)
    report = project.schema_report
    if report.upgraded:
        backup = f" (backup: {report.backup})" if report.backup else ""
        print(f"upgraded the project schema from {report.before} to {report.after}{backup}", file=sys.stderr)
    return project


def _print_capped(lines: Sequence[str], prefix: str, stream=None) -> None:
    stream = stream or sys.stdout
    for line in lines[:_MAX_LINES]:
        print(f"{prefix}{line}", file=stream)
    if len(lines) > _MAX_LINES:
        print(f"{prefix}... and {len(lines) - _MAX_LINES} more", file=stream)


def _init(args: argparse.Namespace) -> int:
    from app.store.project import Project
    from app.store.shipped_models import ensure_demo_model

    with Project.create(args.db, roots=args.root) as project:
        demo = ensure_demo_model(project)
        roots = project.roots()
        print(f"created project {project.url} (schema revision {project.schema_report.after}) "
              f"with {len(roots)} image roots" + (f" and the model {demo.name!r}" if demo else ""))
        for _, root in roots:
            print(f"  root {root}")
    return 0


def _import_images(args: argparse.Namespace) -> int:
    from app.store.images import import_images
    from srn.imageio import IMAGE_EXTENSIONS

    def progress(done: int, total: int, _rel: str) -> None:
        if done and (done % 1000 == 0 or done == total):
            print(f"import-images: {done}/{total} files", file=sys.stderr, flush=True)

    with _open(args.db) as project:
        report = import_images(project, args.folder, extensions=args.ext or IMAGE_EXTENSIONS, split=args.split,
                               progress=progress)
    print(report.summary())
    for rel, other in report.duplicates:
        print(f"  {rel}: duplicate of {other} (same content), skipped")
    for rel, reason in report.problems:
        print(f"  {rel}: {reason}")
    return 0


def _import_labels(args: argparse.Namespace) -> int:
    from app.store.labels import import_labels

    with _open(args.db) as project:
        report = import_labels(project, args.source, args.format, outside=args.outside,
                               allow_unmatched=args.allow_unmatched, mark_done=not args.keep_status)
    print(report.summary())
    _print_capped(report.warnings, "warning: ", sys.stderr)
    _print_capped([f"not in the project, skipped: {name}" for name in report.unmatched], "  ")
    return 0


def _export(args: argparse.Namespace) -> int:
    from app.store.export import export

    if args.run is not None and args.format != "wider-predictions":
        args.export_parser.error("--run is only used with --format wider-predictions")
    statuses = args.status or ["done"]
    with _open(args.db) as project:
        report = export(project, args.out, args.format, statuses=None if "all" in statuses else statuses,
                        split=args.split, run_id=args.run, force=args.force)
    print(report.summary())
    _print_capped(report.warnings, "warning: ", sys.stderr)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from app.store.stats import project_stats

    with _open(args.db) as project:
        stats = project_stats(project)
    print(json.dumps(stats.to_dict(), indent=2) if args.json else stats.format_text())
    return 0


def run(args: argparse.Namespace) -> int:
    """Run parsed ``project`` arguments; turns the errors of bad input or data into exit status 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.store.errors import StoreError
    from srn.fileio import UnsafePathError
    from srn.formats.errors import FormatError

    try:
        return args.func(args)
    except (FormatError, StoreError, UnsafePathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a missing or unreadable file or folder
        print(f"error: {exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else f"error: {exc}",
              file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # not a database, server unreachable, ...
        print(f"error: database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``darkface-studio project`` with ``argv`` (the arguments after ``project``); returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return run(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
