#!/usr/bin/env bash
# Usage: scripts/with-postgres.sh CMD [ARGS...]
#
# Runs CMD with COFFER_TEST_DATABASE_URL pointing at a throwaway PostgreSQL cluster:
#   - initdb into a fresh temp dir, owned by a non-root user when we run as root (initdb refuses
#     root): the `postgres` system user if it exists, otherwise `coffer-pg` (created on demand);
#   - listens on 127.0.0.1 only, on a free port; its unix socket lives inside the temp dir;
#   - fsync stays on (benchmarks measure real commits); the rest is tuned for a test box;
#   - superuser role `coffer`, trust auth (loopback and socket only), database `coffer_test`.
# The cluster is stopped and the temp dir removed on exit, failure or interrupt; the script
# exits with CMD's status.
#
# If COFFER_TEST_DATABASE_URL is already set, no cluster is started and CMD runs against it.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

if [[ -n "${COFFER_TEST_DATABASE_URL:-}" ]]; then
    exec "$@"
fi

orig_dir=$PWD
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pg_bin=$("$here/ensure-postgres.sh")
role=coffer
dbname=coffer_test

# --- the user the server runs as -------------------------------------------------------------
if [[ $(id -u) -eq 0 ]]; then
    if id -u postgres >/dev/null 2>&1; then
        pg_user=postgres
    else
        pg_user=coffer-pg
        if ! id -u "$pg_user" >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$pg_user"
        fi
    fi
    as_pg() { runuser -u "$pg_user" -- "$@"; }
else
    pg_user=$(id -un)
    as_pg() { "$@"; }
fi

# --- temp dir and cleanup --------------------------------------------------------------------
base=${TMPDIR:-/tmp}
if ! as_pg test -x "$base" 2>/dev/null; then
    base=/tmp  # e.g. TMPDIR under /root, which the server user cannot enter
fi
tmp=$(mktemp -d "$base/coffer-pg.XXXXXX")
started=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ $started -eq 1 ]]; then
        (cd "$tmp" && as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -m immediate -w stop) \
            >/dev/null 2>&1 || true
    fi
    # Belt and braces: if the postmaster is somehow still alive, kill it by its own pid.
    if [[ -f "$tmp/data/postmaster.pid" ]]; then
        local pid
        pid=$(head -n 1 "$tmp/data/postmaster.pid" 2>/dev/null || true)
        [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [[ $(id -u) -eq 0 ]]; then
    chown "$pg_user" "$tmp"
fi
chmod 700 "$tmp"

# --- initdb ----------------------------------------------------------------------------------
# Run the server tools from inside the temp dir: the server user may not be able to enter the
# caller's working directory.
cd "$tmp"
if ! as_pg "$pg_bin/initdb" -D "$tmp/data" -U "$role" --auth=trust -E UTF8 --no-locale \
        --no-sync --no-instructions >"$tmp/initdb.log" 2>&1; then
    cat "$tmp/initdb.log" >&2
    exit 1
fi

cat >>"$tmp/data/postgresql.conf" <<CONF

# --- coffer test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
max_connections = 200
shared_buffers = 128MB
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = minimal
max_wal_senders = 0
max_wal_size = 1GB
checkpoint_timeout = 30min
max_locks_per_transaction = 256
log_min_messages = warning
log_checkpoints = off
log_line_prefix = '%m [%p] '
CONF
# Trust only the socket and loopback: the server listens nowhere else.
cat >"$tmp/data/pg_hba.conf" <<HBA
local all all              trust
host  all all 127.0.0.1/32 trust
HBA

# --- start on a free loopback port (retry if someone grabs it first) -------------------------
free_port() {
    python3 - <<'PY'
import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
            -o "-p $port" start >/dev/null 2>&1; then
        started=1
        break
    fi
    if [[ $attempt -eq 5 ]] || ! grep -qi "address already in use" "$tmp/server.log"; then
        echo "could not start PostgreSQL; server log:" >&2
        cat "$tmp/server.log" >&2
        exit 1
    fi
done

"$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U "$role" -d postgres \
    -c "CREATE DATABASE $dbname" >/dev/null </dev/null

export COFFER_TEST_DATABASE_URL="postgresql+psycopg://$role@127.0.0.1:$port/$dbname"
export COFFER_TEST_PG_BIN="$pg_bin"

cd "$orig_dir"
set +e
"$@"
rc=$?
set -e
exit "$rc"
