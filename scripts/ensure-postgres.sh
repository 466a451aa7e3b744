#!/usr/bin/env bash
# Print the directory holding the PostgreSQL server binaries (initdb, pg_ctl, postgres).
#
# Prefers the newest /usr/lib/postgresql/<version>/bin (Debian/Ubuntu layout), then the directory
# of `initdb` on PATH. $COFFER_PG_BIN overrides both. If none is found and we run as root on a
# Debian-like system, installs the `postgresql` package non-interactively first.
set -euo pipefail

find_bin() {
    if [[ -n "${COFFER_PG_BIN:-}" ]]; then
        [[ -x "$COFFER_PG_BIN/initdb" ]] && { echo "$COFFER_PG_BIN"; return 0; }
        echo "COFFER_PG_BIN=$COFFER_PG_BIN has no initdb" >&2
        return 1
    fi
    local dir initdb
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
        | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
        return 0
    fi
    if initdb=$(command -v initdb 2>/dev/null); then
        dir=$(dirname "$(readlink -f "$initdb")")
        if [[ -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    fi
    return 1
}

if find_bin; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL" \
        "or set COFFER_PG_BIN, or set COFFER_TEST_DATABASE_URL to an existing server." >&2
    exit 1
fi

echo "PostgreSQL server binaries not found; installing the postgresql package..." >&2
export DEBIAN_FRONTEND=noninteractive
{
    apt-get update -q
    apt-get install -y -q --no-install-recommends postgresql
} >&2
find_bin
