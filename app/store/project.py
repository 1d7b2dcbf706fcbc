"""A project: one database (SQLite file or SQLAlchemy URL) plus its image roots.

``Project.open`` upgrades the schema (see ``app.store.schema``); ``read()`` and ``write()`` hand
out sessions. Every ``write()`` block is one committed transaction: the service functions in
this package open one per user action, so an edit is on disk when the call returns.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.store.database import (
    BUSY_TIMEOUT_MS,
    IMMEDIATE,
    SQLITE_MAGIC,
    database_url,
    is_url,
    make_engine,
    sqlite_path,
    writable,
)
from app.store.errors import (
    DatabaseFailure,
    NotAProjectError,
    NotFoundError,
    OutsideRootsError,
    ProjectBusyError,
    ReadOnlyProjectError,
    StoreError,
)
from app.store.schema import SchemaReport, current_revision, ensure_current
from app.store.tables import ImageRoot, ProjectSetting

Roots = Mapping[int, Path]
"""``{root id: folder}`` as ``root_paths`` reads it, for ``Project.locate`` / ``Project.image_path``."""


PROJECT_DIR = ".darkface-studio"
"""The folder beside a folder of images that holds its project: database, runs, caches."""


def root_paths(session: Session) -> dict[int, Path]:
    """The image roots, in id order, read in ``session`` (e.g. inside a snapshot transaction)."""
    return {r.id: Path(r.path) for r in session.scalars(select(ImageRoot).order_by(ImageRoot.id))}


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def check_project_file(path: Path) -> None:
    """Refuse, naming ``path``, a file that cannot be a project: SQLite would take an empty file
    for a new database (a read-only command would then silently "create" a project)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the project file: {exc.strerror}") from None
    if not head:
        raise NotAProjectError(f"{path}: empty file (0 bytes), not a project database; "
                               "create a project with `darkface-studio project init`")
    if head != SQLITE_MAGIC:
        raise NotAProjectError(f"{path}: not a project database (not an SQLite file)")


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's own message, first line (SQLAlchemy's adds the SQL and a help link)."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _database_problem(location, exc: SQLAlchemyError) -> StoreError:
    return NotAProjectError(f"{location}: cannot open the project database: {_reason(exc)}")


class Project:
    """An open project database. Use ``Project.open`` / ``Project.create``; close when done."""

    def __init__(self, engine: Engine, schema_report: SchemaReport, author: str | None = None,
                 read_only: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.engine = engine
        self.busy_timeout_ms = busy_timeout_ms
        self.schema_report = schema_report
        self.author = author or default_author()
        self.read_only = read_only
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(engine.execution_options(**{IMMEDIATE: True}), expire_on_commit=False)

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | os.PathLike[str], *, author: str | None = None, create: bool = False,
             backup: bool = True, read_only: bool | None = None,
             busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Project:
        """Open the project at ``location`` (a SQLite file path or a database URL).

        A missing SQLite file is an error unless ``create``; so is an empty, foreign or damaged
        one (``NotAProjectError``). An older schema is backed up and upgraded; a newer one
        raises ``SchemaTooNewError``. ``read_only=None`` opens a SQLite file read-only when this
        process cannot write it or its folder (then ``write()`` raises ``ReadOnlyProjectError``
        and an old schema is an error, not an upgrade); ``True`` forces it. ``busy_timeout_ms``
        (SQLite): how long a write waits for another writer before ``ProjectBusyError``.
        """
        path = None if is_url(location) else Path(location).expanduser().resolve()
        if path is not None and not create:
            if not path.is_file():
                raise NotFoundError(f"{location}: no such project file "
                                    "(create one with `darkface-studio project init`)")
            check_project_file(path)
            if read_only is None:
                read_only = not writable(path)
        if path is not None and create:
            path.parent.mkdir(parents=True, exist_ok=True)
        read_only = bool(read_only) and path is not None and not create
        engine = make_engine(location, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
        try:
            report = ensure_current(engine, backup=backup, upgrade_ok=not read_only)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise _database_problem(location, exc) from None
        except BaseException:
            engine.dispose()
            raise
        project = cls(engine, report, author, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
        if not read_only:
            from app.store.labels import recover_interrupted_imports

            try:
                recover_interrupted_imports(project)  # an import killed midway is rolled back whole
            except BaseException:
                project.close()
                raise
        return project

    @classmethod
    def create(cls, location: str | os.PathLike[str], roots=(), *, author: str | None = None) -> Project:
        """Create a new, empty project at ``location``; refuses one that already holds a project."""
        if not is_url(location) and Path(location).expanduser().exists():
            raise StoreError(f"{location}: already exists; open it instead of creating it")
        if is_url(location):
            probe = make_engine(location)
            try:
                if current_revision(probe) is not None:
                    raise StoreError(f"{probe.url.render_as_string(hide_password=True)}: already holds a project")
            finally:
                probe.dispose()
        project = cls.open(location, author=author, create=True)
        for root in roots:
            project.add_root(root)
        return project

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or ``None`` for a database server."""
        return sqlite_path(database_url(str(self.engine.url)))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def __repr__(self) -> str:
        return f"Project({self.url!r})"

    # -- sessions ------------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (its transaction is rolled back at the end). A failure of the
        database itself is a ``DatabaseFailure`` naming the project."""
        try:
            with self._reader() as session:
                yield session
        except SQLAlchemyError as exc:
            raise DatabaseFailure(f"{self._where}: cannot read the project: {_reason(exc)}") from exc

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose block is one transaction: committed at the end, rolled back on error.

        On SQLite the transaction takes the write lock at its start (``BEGIN IMMEDIATE``), so
        concurrent writers queue on the busy timeout instead of failing. A read-only project
        raises ``ReadOnlyProjectError`` naming the file.
        """
        if self.read_only:
            raise ReadOnlyProjectError(f"{self.path}: opened read-only (this user cannot write the file or its "
                                       "folder); nothing was changed")
        try:
            with self._writer() as session, session.begin():
                yield session
        except OperationalError as exc:
            if "database is locked" not in str(exc.orig):
                raise DatabaseFailure(f"{self._where}: the change was not saved: {_reason(exc)}") from exc
            raise ProjectBusyError(
                f"{self._where}: the project is busy: another program has held its write lock for more than "
                f"{self.busy_timeout_ms / 1000:g} s (a long import or a stuck process); nothing was saved, try again"
            ) from None
        except SQLAlchemyError as exc:
            raise DatabaseFailure(f"{self._where}: the change was not saved: {_reason(exc)}") from exc

    @property
    def _where(self) -> str:
        return str(self.path) if self.path is not None else self.url

    # -- settings and roots --------------------------------------------------------------------

    def get_setting(self, key: str, default=None):
        with self.read() as s:
            row = s.get(ProjectSetting, key)
            return default if row is None else row.value

    def set_setting(self, key: str, value) -> None:
        with self.write() as s:
            s.merge(ProjectSetting(key=key, value=value))

    def roots(self) -> list[tuple[int, Path]]:
        with self.read() as s:
            return list(root_paths(s).items())

    def add_root(self, folder: str | os.PathLike[str]) -> int:
        """Register an image folder (absolute, resolved); returns its id (existing one if known)."""
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise NotFoundError(f"{folder}: not a folder")
        for root_id, root in self.roots():
            if root == path:
                return root_id
        with self.write() as s:
            row = ImageRoot(path=str(path))
            s.add(row)
            s.flush()
            return row.id

    def _roots(self, roots: Roots | None) -> Roots:
        """``roots`` as given, else read now (never cached: another process may add a root)."""
        return dict(self.roots()) if roots is None else roots

    def locate(self, path: str | os.PathLike[str], roots: Roots | None = None) -> tuple[int, str]:
        """``(root_id, rel_path)`` of an image file; ``OutsideRootsError`` if no root holds it.

        ``roots``: the roots already read (``dict(project.roots())``), for many paths in a row.
        """
        roots = self._roots(roots)
        target = Path(path).expanduser().resolve()
        best = None
        for root_id, root in roots.items():
            if target.is_relative_to(root) and (best is None or len(root.parts) > len(best[1].parts)):
                best = (root_id, root)
        if best is None:
            listed = ", ".join(str(r) for r in roots.values()) or "none"
            raise OutsideRootsError(f"{path}: not inside any of the project's image roots ({listed})")
        return best[0], target.relative_to(best[1]).as_posix()

    def image_path(self, root_id: int, rel_path: str, roots: Roots | None = None) -> Path:
        """The file of an image row, refusing a relative path that climbs out of its root.

        ``roots``: the roots already read (``dict(project.roots())``), for many images in a row.
        """
        roots = self._roots(roots)
        if root_id not in roots:
            raise NotFoundError(f"image root {root_id} does not exist")
        root = roots[root_id]
        full = (root / rel_path).resolve()
        if not full.is_relative_to(root):
            raise OutsideRootsError(f"{rel_path}: leaves the image root {root}")
        return full
