"""Schema versions: upgrade a project database with Alembic, refuse one that is too new.

Opening a project calls ``ensure_current``: an empty database is created at the newest schema; an
older one is first copied next to itself (SQLite: ``<file>.backup-<revision>-<time>``, made with
SQLite's online backup API so it is consistent) and then upgraded; one whose revision this build
does not know was written by a newer DarkFace Studio and is refused with ``SchemaTooNewError``,
never silently downgraded.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from app.store.database import sqlite_path
from app.store.errors import SchemaTooNewError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@dataclass
class SchemaReport:
    """What ``ensure_current`` did: the revisions before and after, and the backup it made."""

    before: str | None
    after: str
    backup: Path | None = None

    @property
    def upgraded(self) -> bool:
        return self.before != self.after


def backup_sqlite(path: Path, revision: str | None) -> Path:
    """A consistent copy of a live SQLite database beside it (online backup API, then rename)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.backup-{revision or 'base'}-{stamp}")
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(str(path))
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)
    return target


def ensure_current(engine: Engine, *, upgrade_ok: bool = True, backup: bool = True) -> SchemaReport:
    """Bring the database at ``engine`` to the newest schema (see the module docstring)."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return SchemaReport(current, head)
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    where = sqlite_path(str(engine.url)) or engine.url.render_as_string(hide_password=True)
    if current is not None and current not in known:
        raise SchemaTooNewError(
            f"{where}: the project's schema revision {current!r} is newer than this DarkFace Studio "
            f"knows (newest here: {head!r}). Open it with a newer version of the app; nothing was changed."
        )
    if current is None and set(inspect(engine).get_table_names()) - {"alembic_version"}:
        raise SchemaTooNewError(
            f"{where}: the database has tables but no DarkFace Studio schema revision; it is not a "
            "DarkFace Studio project (or was damaged). Nothing was changed."
        )
    if not upgrade_ok:
        raise SchemaTooNewError(f"{where}: the project needs upgrading from {current!r} to {head!r}, which a "
                                "read-only project cannot do; open it where it can be written")
    copy = None
    path = sqlite_path(str(engine.url))
    if backup and current is not None and path is not None:
        copy = backup_sqlite(path, current)
    upgrade(engine)
    return SchemaReport(current, head, copy)
