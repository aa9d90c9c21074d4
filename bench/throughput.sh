#!/usr/bin/env bash
# Relay figures (issue 3, point 10):
#  1. deltas delivered end to end to a subscriber per second: ROWS changes
#     (100 transactions) are committed while the relay is stopped, then the
#     relay starts and a subscriber counts them (rate: first to last receipt;
#     also the wall time from the relay's start to the last receipt);
#  2. the same for one ROWS-row transaction, with the relay's peak RSS;
# (pgbench with the relay draining: bench/peers.sh.)
# Prints a markdown report.
#   bench/throughput.sh [BUILD_DIR] [--rows N]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=build; ROWS=1000000
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { BUILD=$1; shift; }
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
RELAY=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-relay)
COUNTER=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-bench-subscriber)
[ -x "$RELAY" ] && [ -x "$COUNTER" ] || { echo "build the relay first (make)" >&2; exit 1; }

start_cluster
WORK=$BENCH_DIR/bench
mkdir -p "$WORK"
PORT=$(free_port)
ENDPOINT=tcp://127.0.0.1:$PORT
RELAY_PID=

start_relay() {
    "$RELAY" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" \
        --publish "$ENDPOINT" --send-hwm 100000000 --log-level warn >>"$WORK/relay.log" 2>&1 &
    RELAY_PID=$!
    track "$RELAY_PID"
}
stop_relay() { stop_pid "$RELAY_PID"; RELAY_PID=; }

# Watches the relay's VmHWM while it runs; prints it in MB at the end.
peak_rss_mb() { awk '/VmHWM/{printf "%.0f", $2 / 1024}' "/proc/$RELAY_PID/status"; }

# drain LABEL: start subscriber + relay, wait for ROWS changes; sets RATE, SECS, PEAK
drain() {
    "$COUNTER" "$ENDPOINT" "$ROWS" 20000 >"$WORK/count.out" &
    local counter=$!
    track "$counter"
    sleep 0.5
    local t0; t0=$(now_s)
    start_relay
    if ! wait "$counter"; then
        echo "subscriber failed:" >&2; cat "$WORK/count.out" >&2; exit 1
    fi
    PEAK=$(peak_rss_mb)
    stop_relay
    local out; out=$(tail -1 "$WORK/count.out")
    SECS=$(echo "$out" | cut -d' ' -f2) GAPS=$(echo "$out" | cut -d' ' -f3)
    # From starting the relay (its 300 ms --start-delay, connecting, the batch
    # query and its sort) to the last receipt.
    WALL=$(calc "$(echo "$out" | cut -d' ' -f4) - $t0")
    RATE=$(awk "BEGIN { printf \"%.0f\", $ROWS / $SECS }")
    echo "$1: $ROWS changes in $SECS s = $RATE/s ($WALL s from relay start), gaps $GAPS, relay peak RSS $PEAK MB" >&2
}

psqlq -c "CREATE EXTENSION tablepub" \
      -c "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, label text, at timestamptz)" \
      -c "SELECT tablepub.publish('items')" >/dev/null
# The relay records its starting position the first time it runs.
start_relay; sleep 2; stop_relay

PER_TX=$((ROWS / 100))
for i in $(seq 0 99); do
    echo "INSERT INTO items SELECT g, g % 1000, 'item ' || g, now() FROM generate_series($((i * PER_TX + 1)), $(((i + 1) * PER_TX))) g;"
done | psqlq >/dev/null
drain "100 transactions"
RATE_MANY=$RATE SECS_MANY=$SECS PEAK_MANY=$PEAK WALL_MANY=$WALL

psqlq -c "UPDATE items SET n = n + 1" >/dev/null
drain "one transaction"
RATE_ONE=$RATE SECS_ONE=$SECS PEAK_ONE=$PEAK WALL_ONE=$WALL

cat <<MD
Machine: $(machine_line)
Command: bench/throughput.sh --rows $ROWS

| end to end, relay to one subscriber | changes | first to last receipt, s | changes/s | relay start to last receipt, s | relay peak RSS |
| --- | ---: | ---: | ---: | ---: | ---: |
| $ROWS inserts in 100 transactions | $ROWS | $SECS_MANY | $RATE_MANY | $WALL_MANY | $PEAK_MANY MB |
| one $ROWS-row UPDATE transaction | $ROWS | $SECS_ONE | $RATE_ONE | $WALL_ONE | $PEAK_ONE MB |

MD
