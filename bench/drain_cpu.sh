#!/usr/bin/env bash
# CPU per message of the relay, its backend and the bench subscriber on a
# fixed amount of work, A/B in alternating rounds (issue 11, item 7): TXS
# pgbench tpcb-like transactions (4 published tables: 4 changes each) are
# committed while no relay runs; then the relay drains them to the bench
# subscriber of the table topics ("public."). The work is the same in every
# round, so the CPU seconds compare even on a busy machine where TPS does
# not.
#
#   bench/drain_cpu.sh [--txs N] [--rounds R] [--perf DIR] VARIANT...
#
# VARIANT is NAME=PGBIN:BUILD_DIR[:SUBSCRIBER_BUILD_DIR] (PGBIN: the bindir
# of a PostgreSQL whose pkglibdir holds that tree's extension; the bench
# subscriber comes from SUBSCRIBER_BUILD_DIR if given, else BUILD_DIR). Prints one line per round and
# variant: CPU seconds per 100k transactions of the relay (every thread),
# its backend and the subscriber (every thread), and the drain's wall time.
# --perf DIR: also perf record -g the relay and the subscriber (perf.NAME.R
# files in DIR).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TXS=50000 ROUNDS=3 PERF_DIR=
while [ $# -gt 0 ]; do
    case $1 in
        --txs) TXS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --perf) PERF_DIR=$2; shift 2 ;;
        --*) echo "unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: bench/drain_cpu.sh [--txs N] [--rounds R] [--perf DIR] NAME=PGBIN:BUILD..." >&2; exit 2; }
START_PATH=$PATH

# cpu_s PID: CPU seconds of every thread of a live process (schedstat:
# nanoseconds, where /proc/PID/stat counts 10 ms ticks).
cpu_s() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.4f", s / 1e9 }'; }

# run NAME PGBIN BUILD ROUND: prints "relay backend subscriber wall"
run() {
    local name=$1 pgbin=$2 build=$3 round=$4 sub_build=${5:-$3} port endpoint relay counter backend t0 perf_pid=
    export PATH=$pgbin:$START_PATH
    PGBIN=$pgbin start_cluster -c synchronous_commit=off -c max_wal_size=4GB
    pgbench -q -i -s 10 >/dev/null 2>&1
    psqlq -c "ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY" -c "CREATE EXTENSION tablepub" \
        -c "CREATE ROLE drain_relay LOGIN IN ROLE tablepub_relay"
    for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
        psqlq -c "SELECT tablepub.publish('$t')" >/dev/null
    done
    local before expected
    before=$(psql -XAtc "SELECT count(*) FROM tablepub.outbox")
    pgbench -n -M prepared -c 4 -j 2 -t $((TXS / 4)) >/dev/null 2>&1
    psqlq -c "VACUUM ANALYZE" -c "CHECKPOINT"
    # (the subscriber counts changes, not the SCHEMA messages before them)
    expected=$(($(psql -XAtc "SELECT count(*) FROM tablepub.outbox") - before))
    port=$(free_port)
    endpoint=tcp://127.0.0.1:$port
    local sub prefix=()
    sub=$(tool_path "$sub_build" tablepub-bench-subscriber)
    # (a build before 0.3 takes no prefix and publishes no ".tx"; the usage
    # exits 2, so no pipe into grep under pipefail)
    [[ $("$sub" 2>&1 || true) == *TOPIC_PREFIX* ]] && prefix=(public.)
    # (perf stat: the task clock of every thread, in ms)
    perf stat -x, -e task-clock -o "$BENCH_DIR/count.cpu" \
        "$sub" "$endpoint" "$expected" 60000 "${prefix[@]+"${prefix[@]}"}" \
        >"$BENCH_DIR/count.out" 2>&1 &
    counter=$!; track "$counter"
    sleep 0.5
    local sub_pid
    sub_pid=$(pgrep -P "$counter")
    t0=$(now_s)
    "$(tool_path "$build" tablepub-relay)" --db "host=$PGHOST port=$PGPORT dbname=postgres user=drain_relay" \
        --publish "$endpoint" --send-hwm 100000000 --heartbeat-interval 1h --log-level warn \
        >>"$BENCH_DIR/relay.log" 2>&1 &
    relay=$!; track "$relay"
    if [ -n "$PERF_DIR" ]; then
        perf record -F 1999 -g -p "$relay,$sub_pid" -o "$PERF_DIR/perf.$name.$round" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    backend=
    while [ -z "$backend" ]; do
        backend=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE application_name = 'tablepub-relay' LIMIT 1")
        [ -n "$backend" ] || sleep 0.05
    done
    wait "$counter" || { echo "subscriber failed: $(cat "$BENCH_DIR/count.out")" >&2; exit 1; }
    local wall relay_s backend_s sub_s
    wall=$(calc "$(tail -1 "$BENCH_DIR/count.out" | cut -d' ' -f4) - $t0")
    relay_s=$(cpu_s "$relay") backend_s=$(cpu_s "$backend")
    sub_s=$(awk -F, '/task-clock/ { printf "%.4f", $1 / 1000 }' "$BENCH_DIR/count.cpu")
    [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    echo "$relay_s $backend_s $sub_s $wall"
    stop_cluster >/dev/null
}

echo "| round | variant | relay CPU s / 100k tx | its backend | subscriber | wall s |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for r in $(seq 1 "$ROUNDS"); do
    vs=("$@")
    if [ $((r % 2)) -eq 0 ]; then
        vs=(); for ((i = $#; i >= 1; i--)); do vs+=("${!i}"); done
    fi
    for v in "${vs[@]}"; do
        name=${v%%=*}
        IFS=: read -r pgbin build sub_build <<<"${v#*=}"
        read -r relay_s backend_s sub_s wall <<<"$(run "$name" "$pgbin" "$build" "$r" "$sub_build")"
        echo "| $r | $name | $(calc "$relay_s * 100000 / $TXS") | $(calc "$backend_s * 100000 / $TXS") | $(calc "$sub_s * 100000 / $TXS") | $wall |"
    done
done
