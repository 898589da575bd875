#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for mnistkit's tests (and for trying class mode).
#
#   eval "$(scripts/start_postgres.sh start)"   # prints: export MNISTKIT_TEST_POSTGRES_URL=...
#   scripts/start_postgres.sh stop
#
# The cluster lives in $MNISTKIT_PG_DIR (default /tmp/mnistkit-pg), listens only on 127.0.0.1
# at $MNISTKIT_PG_PORT (default 55432) and is owned by the `postgres` user when run as root
# (PostgreSQL refuses to run as root). Debian's `postgresql` package provides the binaries.
set -euo pipefail

ACTION="${1:-start}"
DATA_DIR="${MNISTKIT_PG_DIR:-/tmp/mnistkit-pg}"
PORT="${MNISTKIT_PG_PORT:-55432}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [[ -z "$BIN" ]] && command -v pg_ctl >/dev/null 2>&1; then
    BIN="$(dirname "$(command -v pg_ctl)")"
fi
if [[ -z "$BIN" ]]; then
    echo "PostgreSQL is not installed: apt-get install postgresql" >&2
    exit 1
fi

as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$ACTION" in
start)
    if [[ ! -f "$DATA_DIR/PG_VERSION" ]]; then
        mkdir -p "$DATA_DIR"
        [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$DATA_DIR"
        as_owner "$BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -w -l "$DATA_DIR/server.log" \
            -o "-k /tmp -h 127.0.0.1 -p $PORT" start >/dev/null
    fi
    echo "export MNISTKIT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    ;;
stop)
    if [[ -f "$DATA_DIR/PG_VERSION" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA_DIR" -w -m fast stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
