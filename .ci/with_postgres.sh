#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server:
#   .ci/with_postgres.sh COMMAND [ARGS...]
# Starts a fresh cluster on a free 127.0.0.1 port, exports
#   DFS_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
# runs COMMAND, then always stops the server and deletes the cluster, and exits
# with COMMAND's status.
#   DFS_TEST_PG_URL already set: just run COMMAND against that server.
#   DFS_SKIP_PG=1: run COMMAND without PostgreSQL.
# Installs Debian's `postgresql` package when no server binaries are found
# (as root, or through passwordless sudo).
set -euo pipefail

say() { echo "with_postgres: $*" >&2; }
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

if [ -n "${DFS_TEST_PG_URL:-}" ]; then
    exec "$@"
fi
if [ "${DFS_SKIP_PG:-0}" = 1 ]; then
    say "DFS_SKIP_PG=1: running without PostgreSQL"
    exec "$@"
fi

# Server binaries: newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH), then PATH.
find_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV) \
             "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")"; do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            echo "$d"; return 0
        fi
    done
    return 1
}

if ! PGBIN=$(find_bin); then
    if [ "$(id -u)" = 0 ]; then sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
    else
        say "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found."
        say "Install them (Debian/Ubuntu: apt-get install postgresql), or set DFS_TEST_PG_URL"
        say "to an existing server, or set DFS_SKIP_PG=1 to run without PostgreSQL."
        exit 1
    fi
    say "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >&2
    PGBIN=$(find_bin) || { say "postgresql installed but no server binaries found"; exit 1; }
fi

tmp="" data=""
# Always stop the server and remove the cluster, keeping the exit status.
cleanup() {
    local rc=$?
    if [ -n "$data" ] && [ -f "$data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    [ -z "$tmp" ] || rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# initdb refuses to run as root: then the cluster belongs to the `postgres` user.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { say "running as root but no 'postgres' user exists"; exit 1; }
    tmp=$(mktemp -d /tmp/dfs-pg.XXXXXX)   # /tmp: reachable by that user
    chown postgres: "$tmp"
    if command -v runuser >/dev/null; then
        as_pg() { (cd "$tmp" && runuser -u postgres -- "$@"); }
    else
        as_pg() { (cd "$tmp" && su postgres -s /bin/sh -c "$(printf '%q ' "$@")"); }
    fi
else
    tmp=$(mktemp -d -t dfs-pg.XXXXXX)
    as_pg() { (cd "$tmp" && "$@"); }
fi
data=$tmp/data
log=$tmp/server.log

if ! as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
    say "initdb failed:"; tail -n 30 "$tmp/initdb.log" >&2; exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if ! as_pg "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
        -o "-h 127.0.0.1 -p $port -k '$tmp' -c fsync=off -c full_page_writes=off" >/dev/null; then
    say "PostgreSQL failed to start; server log:"; tail -n 30 "$log" >&2; exit 1
fi
say "started $("$PGBIN/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /') on 127.0.0.1:$port"

export DFS_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
set +e
"$@"
exit $?
