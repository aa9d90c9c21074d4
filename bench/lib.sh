# Shared helpers for the bench/ scripts: a throwaway cluster and timing.
# Source it; it defines start_cluster, psqlq and now_s, and stops the
# cluster on every exit path.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGTMP=$BENCH_ROOT/tests/lib/pgtmp

start_cluster() {
    BENCH_DIR=$(mktemp -d /tmp/tablepub-bench.XXXXXX)
    trap 'stop_cluster' EXIT INT TERM
    "$PGTMP" start "$BENCH_DIR" --owner $$ "$@" >/dev/null
    # shellcheck disable=SC1091
    . "$BENCH_DIR/env"
    export PATH=$PGTMP_BIN:$PATH
}

stop_cluster() {
    [ -n "${BENCH_STOP_HOOK:-}" ] && eval "$BENCH_STOP_HOOK"
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
