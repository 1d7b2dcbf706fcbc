""".ci/with_postgres.sh starts a throwaway PostgreSQL server for one command and removes it after."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "with_postgres.sh"


def _have_server_binaries() -> bool:
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    if (pg_ctl := shutil.which("pg_ctl")) is not None:
        dirs.append(os.path.dirname(pg_ctl))
    return any(
        all(os.access(os.path.join(d, exe), os.X_OK) for exe in ("initdb", "pg_ctl", "postgres"))
        for d in dirs
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _server_is_gone(url: str) -> None:
    """Connecting to ``url`` fails: nothing listens there any more."""
    try:
        import psycopg
    except ImportError:  # psycopg is optional here: a bare TCP connect tells the same
        parts = urlsplit(url)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((parts.hostname, parts.port), timeout=5).close()
        return
    with pytest.raises(psycopg.OperationalError, match="(?i)refused"):
        psycopg.connect(url, connect_timeout=5).close()


@pytest.mark.skipif(
    not _have_server_binaries() and not _is_root(),
    reason="no PostgreSQL server binaries (initdb, pg_ctl, postgres) and not root to install them",
)
def test_with_postgres_runs_command_against_a_throwaway_server():
    env = {k: v for k, v in os.environ.items() if k not in ("DFS_TEST_PG_URL", "DFS_SKIP_PG")}
    result = subprocess.run(
        [str(SCRIPT), sys.executable, "-c", "import os; print(os.environ['DFS_TEST_PG_URL'])"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,  # a cold apt-get install on a bare root machine; seconds otherwise
    )
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:"), result.stdout
    assert "started PostgreSQL" in result.stderr

    _server_is_gone(url.replace("postgresql+psycopg://", "postgresql://", 1))
