# Shared helpers for the bench/ scripts: a throwaway cluster and timing.
# Source it; it defines start_cluster, track, psqlq, now_s and free_port, and stops the
# cluster and every tracked process on every exit path.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGTMP=$BENCH_ROOT/tests/lib/pgtmp
. "$BENCH_ROOT/tests/lib/procs.sh"
. "$BENCH_ROOT/tests/lib/free_port.sh"
BENCH_PIDS=()

# track PID: stop this process (relay, subscriber, pgbench) when the script ends.
track() { BENCH_PIDS+=("$1"); }

start_cluster() {
    BENCH_DIR=$(mktemp -d /tmp/tablepub-bench.XXXXXX)
    trap 'stop_cluster' EXIT
    # A trap on INT/TERM that only cleaned up let the script go on running.
    trap 'exit 130' INT TERM
    "$PGTMP" start "$BENCH_DIR" --owner $$ "$@" >/dev/null
    # shellcheck disable=SC1091
    . "$BENCH_DIR/env"
    export PATH=$PGTMP_BIN:$PATH
}

stop_cluster() {
    local pid
    for pid in "${BENCH_PIDS[@]+"${BENCH_PIDS[@]}"}"; do stop_pid "$pid"; done
    BENCH_PIDS=()
    [ -n "${BENCH_DIR:-}" ] && "$PGTMP" stop "$BENCH_DIR"
    BENCH_DIR=
}

psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

now_s() { date +%s.%N; }

machine_line() {
    echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, $(psql -XAtc 'show server_version') "
}

# calc EXPR: floating-point arithmetic without bc (not on every machine).
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

# tool_path BUILD_DIR NAME: a program the build made (build/relay/NAME
# before the layout move of issue 9, wherever CMake puts it after).
tool_path() {
    local build=$1 name=$2 p
    # bin/ first: a build dir reused across the layout change keeps stale
    # programs of the old layout under relay/ (which a tree from before it,
    # benchmarked as a variant, still uses).
    for p in "$build/bin/$name" "$build/relay/$name" "$build/$name"; do
        [ -x "$p" ] && { echo "$p"; return; }
    done
    find "$build" -maxdepth 4 -type f -perm -u+x -name "$name" 2>/dev/null | head -1
}
