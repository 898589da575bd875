#!/usr/bin/env bash
# A throwaway Dask cluster on loopback for mnistkit's tests (and for trying the cluster path):
# one `dask scheduler` and two `dask worker`s, each worker loading the bundled sample.
#
#   eval "$(scripts/start_dask.sh start)"   # prints: export MNISTKIT_TEST_DASK_SCHEDULER=...
#   scripts/start_dask.sh stop
#
# The scheduler listens only on 127.0.0.1 at $MNISTKIT_DASK_PORT (default 58786); the processes'
# ids and logs are kept in $MNISTKIT_DASK_DIR (default /tmp/mnistkit-dask). Needs the extra
# `mnistkit[cluster]` (pip install -e '.[cluster]') in the Python that runs this script.
set -euo pipefail

ACTION="${1:-start}"
DIR="${MNISTKIT_DASK_DIR:-/tmp/mnistkit-dask}"
PORT="${MNISTKIT_DASK_PORT:-58786}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ADDRESS="tcp://127.0.0.1:$PORT"

stop() {
    # Workers first (so none waits for a scheduler that is gone), then the scheduler; each is
    # given 20 s to close before it is killed.
    local pids=()
    for name in worker-1 worker-2 scheduler; do
        if [[ -f "$DIR/$name.pid" ]]; then
            pids+=("$(cat "$DIR/$name.pid")")
            kill "${pids[-1]}" 2>/dev/null || true
            rm -f "$DIR/$name.pid"
        fi
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$pid" 2>/dev/null || true
    done
}

case "$ACTION" in
start)
    if ! command -v dask >/dev/null 2>&1; then
        echo "Dask is not installed: pip install -e '.[cluster]'" >&2
        exit 1
    fi
    stop
    mkdir -p "$DIR"
    export MNISTKIT_DATA=sample PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    dask scheduler --host 127.0.0.1 --port "$PORT" --no-dashboard \
        >"$DIR/scheduler.log" 2>&1 &
    echo $! >"$DIR/scheduler.pid"
    for number in 1 2; do
        dask worker "$ADDRESS" --nthreads 1 --nworkers 1 --no-dashboard --memory-limit 2GB \
            >"$DIR/worker-$number.log" 2>&1 &
        echo $! >"$DIR/worker-$number.pid"
    done
    # Ready when the scheduler answers and both workers have joined it.
    if ! python - "$ADDRESS" >/dev/null 2>"$DIR/wait.log" <<'PY'
import sys
from distributed import Client

with Client(sys.argv[1], timeout=60) as client:
    client.wait_for_workers(2, timeout=120)
PY
    then
        echo "The Dask cluster did not start; see $DIR/*.log" >&2
        stop
        exit 1
    fi
    echo "export MNISTKIT_TEST_DASK_SCHEDULER=$ADDRESS"
    ;;
stop)
    stop
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
