"""Engines for a project database: SQLite files set up for safe concurrent use, or any URL.

SQLite is put in WAL mode (readers never block the writer), with foreign keys on, a 30 s busy
timeout and ``synchronous=FULL`` (a committed edit survives a crash of the process and of the
machine). Python's sqlite3 module is switched to autocommit so that SQLAlchemy's own ``BEGIN``
is what starts a transaction: write transactions begin with ``BEGIN IMMEDIATE`` and so take the
write lock up front, waiting on the busy timeout, instead of failing half-way with "database is
locked" when a read transaction tries to become a write one.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 30_000
IMMEDIATE = "dfs_begin_immediate"
"""Execution option: begin this connection's transaction with ``BEGIN IMMEDIATE`` (SQLite)."""
IN_CHUNK = 5000
"""Values per ``IN (...)`` list (``chunks``), so one statement stays under the bound-parameter limits."""

T = TypeVar("T")


def chunks(seq: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``seq`` in consecutive slices of at most ``size`` items (none for an empty ``seq``)."""
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def is_url(location: str | os.PathLike[str]) -> bool:
    return "://" in str(location)


def database_url(location: str | os.PathLike[str]) -> str:
    """A SQLAlchemy URL for ``location``: a URL as given, or a SQLite URL for a file path."""
    if is_url(location):
        return str(location)
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, ``None`` for other databases and in-memory SQLite."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""


def _setup_sqlite(engine: Engine, *, read_only: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below starts transactions
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not read_only:  # setting the journal mode writes the file header
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = FULL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writable(path: Path) -> bool:
    """Whether this process may change the SQLite file ``path``: the file and its folder (where
    SQLite puts the ``-wal``/``-shm`` files) must both be writable."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def make_engine(location: str | os.PathLike[str], *, read_only: bool = False,
                busy_timeout_ms: int = BUSY_TIMEOUT_MS, **kwargs) -> Engine:
    """An engine for a project database (path or URL), with the SQLite setup described above.

    ``read_only`` (SQLite files only) opens the file with ``mode=ro``; when its folder cannot
    hold the ``-shm`` file SQLite needs to read a WAL database, also with ``immutable=1`` (the
    file is then read as it is, without locks: fine for a file nobody here can write).
    """
    url = database_url(location)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("timeout", busy_timeout_ms / 1000)
        path = sqlite_path(url)
        if read_only and path is not None:
            shm = path.with_name(path.name + "-shm")
            flags = "mode=ro" + ("" if os.access(path.parent, os.W_OK) or shm.exists() else "&immutable=1")
            target = f"{path.as_uri()}?{flags}"
            timeout = kwargs.pop("connect_args")["timeout"]
            kwargs["creator"] = lambda: sqlite3.connect(target, uri=True, timeout=timeout, check_same_thread=False)
        engine = create_engine(url, **kwargs)
        _setup_sqlite(engine, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)
