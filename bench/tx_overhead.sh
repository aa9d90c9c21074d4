#!/usr/bin/env bash
# The cost of commit positions and ".tx" Transaction messages (issue 11,
# item 7) on the single-table path, A/B in alternating rounds: TXS
# single-row transactions are committed while the relay is stopped, then
# the relay drains them to one subscriber of the table only ("public.",
# PUB-side filtering drops ".tx" for it) or of every topic; reports the
# relay's CPU time for the whole drain (every thread, from schedstat, in
# ms) and the wall time from the relay's start to the last receipt.
#   bench/tx_overhead.sh BASE_BUILD BASE_SQL NEW_BUILD [--txs N] [--rounds R]
# BASE_BUILD: a build dir of the relay before issue 11; BASE_SQL: that
# tree's extension/sql/tablepub--0.2--0.3.sql (installed in place of this
# tree's for its rounds, then restored; the C library is the same).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BASE_BUILD=$1 BASE_SQL=$2 NEW_BUILD=$3; shift 3
TXS=100000 ROUNDS=2
while [ $# -gt 0 ]; do
    case $1 in
        --txs) TXS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
NEW_SQL=$BENCH_ROOT/extension/sql/tablepub--0.2--0.3.sql
SHARE=$(pg_config --sharedir)/extension
COUNTER=$(tool_path "$BENCH_ROOT/$NEW_BUILD" tablepub-bench-subscriber)
restore_sql() { cp "$NEW_SQL" "$SHARE/tablepub--0.2--0.3.sql"; }
trap 'restore_sql; stop_cluster' EXIT

# run VARIANT PREFIX: one round of one variant; prints "rate cpu_s"
run() {
    local variant=$1 prefix=$2 relay sql
    if [ "$variant" = base ]; then relay=$(tool_path "$BASE_BUILD" tablepub-relay); sql=$BASE_SQL
    else relay=$(tool_path "$BENCH_ROOT/$NEW_BUILD" tablepub-relay); sql=$NEW_SQL; fi
    cp "$sql" "$SHARE/tablepub--0.2--0.3.sql"
    start_cluster
    local port endpoint pid counter
    port=$(free_port)
    endpoint=tcp://127.0.0.1:$port
    psqlq -c "CREATE EXTENSION tablepub" -c "CREATE TABLE items (id bigserial PRIMARY KEY, n int NOT NULL)" \
          -c "SELECT tablepub.publish('items')" >/dev/null
    "$relay" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" --publish "$endpoint" \
        --send-hwm 100000000 --log-level warn >>"$BENCH_DIR/relay.log" 2>&1 &
    pid=$!; track "$pid"; sleep 2; stop_pid "$pid"
    echo "INSERT INTO items (n) VALUES (1);" >"$BENCH_DIR/ins.sql"
    PGOPTIONS='-c synchronous_commit=off' pgbench -n -f "$BENCH_DIR/ins.sql" -t $((TXS / 4)) -c 4 -j 2 postgres \
        >/dev/null 2>&1
    "$COUNTER" "$endpoint" "$TXS" 20000 "$prefix" >"$BENCH_DIR/count.out" &
    counter=$!; track "$counter"
    sleep 0.5
    local t0; t0=$(now_s)
    "$relay" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" --publish "$endpoint" \
        --send-hwm 100000000 --log-level warn >>"$BENCH_DIR/relay.log" 2>&1 &
    pid=$!; track "$pid"
    wait "$counter" || { echo "subscriber failed" >&2; cat "$BENCH_DIR/count.out" "$BENCH_DIR/relay.log" >&2; exit 1; }
    local ns; ns=$(cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }')
    stop_pid "$pid"
    local last; last=$(tail -1 "$BENCH_DIR/count.out" | cut -d' ' -f4)
    echo "$(calc "$ns / 1000000") $(calc "$last - $t0")"
    stop_cluster
}

echo "| round | variant | subscriber | relay CPU, ms | relay start to last receipt, s |"
echo "| ---: | --- | --- | ---: | ---: |"
for r in $(seq 1 "$ROUNDS"); do
    order="base new"; [ $((r % 2)) -eq 0 ] && order="new base"
    for prefix in ${PREFIXES:-public. all}; do
        [ "$prefix" = all ] && prefix=""
        for v in $order; do
            # (command substitution: waits for the round's cleanup, which
            # a process substitution would let race the next round)
            read -r cpu wall <<<"$(run "$v" "$prefix")"
            echo "| $r | $v | ${prefix:-(all topics)} | $cpu | $wall |"
        done
    done
done
