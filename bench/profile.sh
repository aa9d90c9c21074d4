#!/usr/bin/env bash
# Where the writers' and the relay's cycles go under pgbench (issue 10):
# perf record -g of the pgbench backends (and of the relay, its backend and
# the bench subscriber in mode e2e), pg_stat_statements, and wait events
# sampled from pg_stat_activity every 10 ms. Prints a plain-text report.
#
#   bench/profile.sh [BUILD_DIR] [--mode none|capture|e2e] [--seconds N] [--sync off|on] [--rate TPS]
#
# BUILD_DIR may be another tree's build (its relay and bench subscriber run);
# PostgreSQL and the extension are the ones of the pg_config on PATH, so an
# A/B profile puts the other tree's PostgreSQL bindir first in PATH. --rate
# runs pgbench at a fixed rate (pgbench -R), so that two trees do the same
# work in the same batches and their per-symbol costs compare.
#
# Needs root (perf) and Debian's linux-perf (make bench installs it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib/procs.sh"
. "$ROOT/bench/lib.sh"
PGTMP=$ROOT/tests/lib/pgtmp

BUILD=build; MODE=capture; SECS=20; SYNC=off; SCALE=10; RATE=
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { BUILD=$1; shift; }
while [ $# -gt 0 ]; do
    case $1 in
        --mode) MODE=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --sync) SYNC=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/tablepub-profile.XXXXXX)
chmod 755 "$DIR"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p"; done
    "$PGTMP" stop "$DIR/pg" >/dev/null 2>&1 || true
    # PROFILE_KEEP=DIR keeps perf.data and the samples for a closer look.
    [ -n "${PROFILE_KEEP:-}" ] && cp "$DIR/perf.data" "$DIR/waits" "$PROFILE_KEEP/" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

"$PGTMP" start "$DIR/pg" --owner $$ -c synchronous_commit="$SYNC" -c max_wal_size=4GB \
    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all >/dev/null
# shellcheck disable=SC1091
. "$DIR/pg/env"
export PATH=$PGTMP_BIN:$PATH
pgbench -q -i -s "$SCALE" >/dev/null 2>&1
psqlq -c "ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY" -c "VACUUM ANALYZE" -c "CHECKPOINT" \
    -c "CREATE EXTENSION pg_stat_statements"
RELAY_PID=""
SUB_PID=""
if [ "$MODE" != none ]; then
    psqlq -c "CREATE EXTENSION tablepub" -c "CREATE ROLE profile_relay LOGIN IN ROLE tablepub_relay"
    for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
        psqlq -c "SELECT tablepub.publish('$t')" >/dev/null
    done
fi
if [ "$MODE" = e2e ]; then
    EP=tcp://127.0.0.1:$(free_port)
    "$(tool_path "$BUILD" tablepub-relay)" --db "host=$PGHOST port=$PGPORT dbname=postgres user=profile_relay" \
        --publish "$EP" --heartbeat-interval 1h --log-level warn >"$DIR/relay.log" 2>&1 &
    RELAY_PID=$!; PIDS+=("$RELAY_PID")
    "$(tool_path "$BUILD" tablepub-bench-subscriber)" "$EP" 1000000000000 600000 >/dev/null 2>&1 &
    SUB_PID=$!; PIDS+=("$SUB_PID")
    sleep 1.5
fi
psqlq -c "SELECT pg_stat_statements_reset()" >/dev/null

pgbench -n -M prepared -c 4 -j 2 -T "$SECS" ${RATE:+-R "$RATE"} >"$DIR/pgbench.out" 2>&1 &
PGB=$!
PIDS+=("$PGB")
sleep 1
# The pgbench backends, and the relay's backend.
BACKENDS=$(psql -XAtc "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name IN ('pgbench', 'tablepub-relay')")
TARGETS=$BACKENDS${RELAY_PID:+,$RELAY_PID}${SUB_PID:+,$SUB_PID}
# Wait events, sampled every 10 ms.
psql -XAt >"$DIR/waits" 2>/dev/null <<SQL &
SELECT application_name, coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
 WHERE application_name IN ('pgbench', 'tablepub-relay') AND pid <> pg_backend_pid() AND state = 'active'
\watch 0.01
SQL
WATCH=$!
PIDS+=("$WATCH")
perf record -F 999 -g -p "$TARGETS" -o "$DIR/perf.data" -- sleep $((SECS - 3)) >/dev/null 2>&1
stop_pid "$WATCH"
wait "$PGB" || true

echo "== bench/profile.sh $BUILD --mode $MODE --seconds $SECS --sync $SYNC${RATE:+ --rate $RATE} ($(date -u +%Y-%m-%d), $(nproc) cores)"
grep -E '^tps|^number of transactions actually' "$DIR/pgbench.out"
echo
echo "== perf: share of samples by process (comm)"
perf report -i "$DIR/perf.data" --no-children -g none --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -10 || true
echo
echo "== perf: pgbench backends, self time by symbol (top 45)"
perf report -i "$DIR/perf.data" --no-children -g none --comm postgres --sort dso,sym --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | head -45 || true
echo
echo "== perf: pgbench backends, inclusive time (children) of selected functions"
perf report -i "$DIR/perf.data" --children -g none --comm postgres --sort sym --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | grep -E 'tablepub_capture_row|EncodeRowChange|PackChange|OutboxInsert|FlushBuffer|heap_multi_insert|heap_insert|index_insert|_bt_doinsert|XLogInsert|ExecutorFinish|AfterTrigger|CommitTransaction|XLogFlush|XLogWrite|ExecUpdate|ExecInsert|exec_execute_message|PostgresMain|LWLockAcquire|Async_Notify|PreCommit_Notify|GetCapturePlan|tablepub__v1__change__pack|LoadXactState|heap_getattr|MakeColumn|BuildIndexInfo|RelationGetIndexList|get_relname_relid|heap_getnext|table_beginscan|index_open|table_open' | head -40 || true
if [ -n "$RELAY_PID" ]; then
    # Every thread of the process (ZeroMQ's I/O thread included), samples
    # counted absolute so that two runs' symbols compare.
    for who in relay subscriber; do
        pid=$RELAY_PID
        [ "$who" = subscriber ] && pid=$SUB_PID
        echo
        echo "== perf: $who process, every thread: self samples by thread"
        perf report -i "$DIR/perf.data" --pid "$pid" --no-children -g none -n --sort comm --stdio 2>/dev/null \
            | grep -E '^ +[0-9]' | head -5 || true
        echo "== perf: $who process, every thread: self samples by symbol (top 40)"
        perf report -i "$DIR/perf.data" --pid "$pid" --no-children -g none -n --sort dso,sym --stdio 2>/dev/null \
            | grep -E '^ +[0-9]' | head -40 || true
    done
fi
echo
echo "== wait events of active pgbench / relay backends (10 ms samples)"
awk -F'|' 'NF == 2 {n[$1 " " $2]++; t[$1]++} END {for (k in n) {split(k, a, " "); printf "%6d  %5.1f%%  %s\n", n[k], 100 * n[k] / t[a[1]], k}}' "$DIR/waits" | sort -k3,3 -k1,1nr | head -30 || true
echo
echo "== pg_stat_statements: top statements by total time"
psql -X -P pager=off -c "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
    wal_records, wal_bytes, left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15"
