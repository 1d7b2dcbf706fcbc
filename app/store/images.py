"""Importing image folders, and the per-image review fields (status, assignee, split).

An import walks the folder recursively, keeps the chosen extensions, reads each image's size
from its header (``srn.formats.images.image_size``: no decoding for PNG, JPEG, BMP), hashes its
bytes (sha256) and adds it unless that path or that content is already in the project. Files it
cannot take are recorded in ``import_problem`` with the reason. Rows are committed in batches, so
a cancelled import keeps what it did and a second run picks up the rest.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update

from app.store.errors import ImportCancelled, NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import REVIEW_STATUSES, Edit, Image, ImportProblem, utcnow
from srn.formats.images import image_size
from srn.imageio import IMAGE_EXTENSIONS, ImageReadError, check_pixels, read_image

BATCH = 500
_HASH_CHUNK = 1 << 20

Progress = Callable[[int, int, str], None]
"""``progress(done, total, current_rel_path)``."""


@dataclass
class ImportReport:
    root_id: int
    found: int = 0
    added: int = 0
    already: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """``(rel_path, rel_path of the image with the same content)``."""
    problems: list[tuple[str, str]] = field(default_factory=list)
    """``(rel_path, reason)`` of files that could not be imported."""
    cancelled: bool = False

    def summary(self) -> str:
        text = (f"{self.found} image files found: {self.added} added, {self.already} already in the project, "
                f"{len(self.duplicates)} duplicates skipped, {len(self.problems)} unreadable")
        return text + (" (cancelled)" if self.cancelled else "")


def _hash_and_tail(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """sha256 of the file and its last 64 bytes (to see whether it ends as its format must)."""
    digest = hashlib.sha256()
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
            tail = (tail + chunk)[-64:]
    return digest.hexdigest(), tail


def _looks_truncated(path: Path, tail: bytes) -> bool:
    """A PNG must end with its IEND chunk, a JPEG with the EOI marker (allowing trailing bytes
    after it only if a full decode succeeds): an interrupted copy keeps its header, not its end."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        return not tail.endswith(b"IEND\xaeB`\x82")
    if suffix in (".jpg", ".jpeg"):
        return b"\xff\xd9" not in tail
    return False


def read_image_facts(path: Path) -> tuple[int, int, str]:
    """``(width, height, sha256)`` of an image file from its header and bytes, without decoding it
    unless it looks cut short; ``ImageReadError`` (naming the file) when it is not a usable image."""
    width, height = image_size(path)
    check_pixels(path, width, height)  # a header claiming 60000×60000 is refused, not recorded
    digest, tail = _hash_and_tail(path)
    if _looks_truncated(path, tail):
        read_image(path)  # a file that still decodes is accepted; a cut one raises here
    return width, height, digest


def scan_folder(folder: Path, extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden folders skipped), in a stable order."""
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in exts:
                found.append(Path(dirpath) / name)
    return found


def import_images(project: Project, folder: str | os.PathLike[str], *,
                  extensions: Iterable[str] = IMAGE_EXTENSIONS, split: str | None = None,
                  progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
                  raise_on_cancel: bool = False) -> ImportReport:
    """Add every image under ``folder`` (registered as a root unless a root already holds it)."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise NotFoundError(f"{folder}: not a folder")
    root_id = next((rid for rid, root in project.roots() if folder.is_relative_to(root)), None)
    if root_id is None:
        root_id = project.add_root(folder)
    root = dict(project.roots())[root_id]
    files = scan_folder(folder, extensions)
    report = ImportReport(root_id=root_id, found=len(files))

    with project.read() as s:
        known_paths = set(s.scalars(select(Image.rel_path).where(Image.root_id == root_id)))
        known_hashes = dict(s.execute(select(Image.content_hash, Image.rel_path)).all())

    rows: list[dict] = []
    problems: list[dict] = []

    def flush() -> None:
        if not rows and not problems:
            return
        now = utcnow()
        with project.write() as s:
            if rows:
                # another import of the same folder may have added some of these since we looked:
                # those rows are skipped (counted as already there), never a UNIQUE violation
                added = s.execute(_insert_new_images(s), [dict(r, created_at=now, updated_at=now) for r in rows])
                inserted = len(added.all())
                report.already += len(rows) - inserted
                report.added += inserted
            if problems:
                s.execute(ImportProblem.__table__.insert(), [dict(p, at=now) for p in problems])
        rows.clear()
        problems.clear()

    for i, path in enumerate(files):
        if cancel is not None and cancel():
            flush()
            report.cancelled = True
            if raise_on_cancel:
                raise ImportCancelled(f"import of {folder} cancelled after {i} of {len(files)} files")
            return report
        rel = path.relative_to(root).as_posix()
        if progress is not None:
            progress(i, len(files), rel)
        if rel in known_paths:
            report.already += 1
            continue
        try:
            width, height, digest = read_image_facts(path)
        except ImageReadError as exc:
            reason = exc.reason
            report.problems.append((rel, reason))
            problems.append({"root_id": root_id, "rel_path": rel, "reason": reason})
            continue
        except OSError as exc:
            reason = exc.strerror or str(exc)
            report.problems.append((rel, reason))
            problems.append({"root_id": root_id, "rel_path": rel, "reason": reason})
            continue
        if digest in known_hashes:
            report.duplicates.append((rel, known_hashes[digest]))
            problems.append({"root_id": root_id, "rel_path": rel,
                             "reason": f"duplicate of {known_hashes[digest]} (same content)"})
            continue
        known_hashes[digest] = rel
        known_paths.add(rel)
        rows.append({"root_id": root_id, "rel_path": rel, "content_hash": digest, "width": width,
                     "height": height, "split": split, "status": "new"})
        if len(rows) >= BATCH:
            flush()
    flush()
    if progress is not None:
        progress(len(files), len(files), "")
    return report


def _insert_new_images(session):
    """``INSERT ... ON CONFLICT (root_id, rel_path) DO NOTHING RETURNING id`` in the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise StoreError(f"image import needs SQLite or PostgreSQL, not {name}")
    return insert(Image).on_conflict_do_nothing(index_elements=["root_id", "rel_path"]).returning(Image.id)


def add_image(project: Project, path: str | os.PathLike[str], split: str | None = None) -> int:
    """Add one image file inside one of the roots; returns its id (``OutsideRootsError`` otherwise)."""
    root_id, rel = project.locate(path)
    width, height, digest = read_image_facts(Path(path))
    with project.write() as s:
        existing = s.scalar(select(Image.id).where(Image.root_id == root_id, Image.rel_path == rel))
        if existing is not None:
            return existing
        row = Image(root_id=root_id, rel_path=rel, content_hash=digest, width=width, height=height, split=split)
        s.add(row)
        s.flush()
        return row.id


def set_review_status(project: Project, image_ids: int | Iterable[int], status: str,
                      author: str | None = None) -> list[int]:
    """Set the review status of one or more images (one transaction, one Edit row per image changed).

    Returns the ids of those Edit rows (``revert_edit`` undoes one; none for an image already so).
    """
    if status not in REVIEW_STATUSES:
        raise StoreError(f"review status must be one of {', '.join(REVIEW_STATUSES)}, got {status!r}")
    return _set_field(project, image_ids, "status", status, author)


def assign(project: Project, image_ids: int | Iterable[int], assignee: str | None, author: str | None = None) -> None:
    _set_field(project, image_ids, "assignee", assignee, author)


def set_split(project: Project, image_ids: int | Iterable[int], split: str | None, author: str | None = None) -> None:
    _set_field(project, image_ids, "split", split, author)


def _set_field(project: Project, image_ids, column: str, value, author: str | None) -> list[int]:
    ids = [image_ids] if isinstance(image_ids, int) else list(image_ids)
    author = author or project.author
    with project.write() as s:
        old = dict(s.execute(select(Image.id, getattr(Image, column)).where(Image.id.in_(ids))).all())
        missing = set(ids) - set(old)
        if missing:
            raise NotFoundError(f"no image with id {sorted(missing)[0]}")
        s.execute(update(Image).where(Image.id.in_(ids)).values({column: value, "updated_at": utcnow()}))
        edits = [Edit(author=author, action=f"set_{column}", entity="image", entity_id=i,
                      before={column: old[i]}, after={column: value}) for i in ids if old[i] != value]
        s.add_all(edits)
        s.flush()
        return [e.id for e in edits]


def image_dimensions(project: Project, image_id: int) -> tuple[int, int]:
    """``(width, height)`` of an image as imported; ``NotFoundError`` when there is none."""
    with project.read() as s:
        row = s.get(Image, image_id)
        if row is None:
            raise NotFoundError(f"no image with id {image_id}")
        return row.width, row.height


def image_file(project: Project, image_id: int) -> Path:
    with project.read() as s:
        row = s.get(Image, image_id)
        if row is None:
            raise NotFoundError(f"no image with id {image_id}")
        return project.image_path(row.root_id, row.rel_path)
