#!/usr/bin/env bash
# Snapshot figures (issue 4, point 9):
#  1. snapshot rows per second delivered to a subscriber, and the relay's
#     peak RSS, for a BIG-row table (default 10M);
#  2. time for a tablepub::Subscriber to join and go live on a JOIN-row
#     table (default 1M) while pgbench updates it at RATE tx/s.
# Prints a markdown report.
#   bench/snapshot.sh [BUILD_DIR] [--big N] [--join N] [--rate N]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=build; BIG=10000000; JOIN=1000000; RATE=500
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { BUILD=$1; shift; }
while [ $# -gt 0 ]; do
    case $1 in
        --big) BIG=$2; shift 2 ;;
        --join) JOIN=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
RELAY=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-relay)
CLIENT=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-bench-snapshot)
[ -x "$RELAY" ] && [ -x "$CLIENT" ] || { echo "build the relay first (make)" >&2; exit 1; }

start_cluster
WORK=$BENCH_DIR/bench
mkdir -p "$WORK"
PUB=tcp://127.0.0.1:$(free_port)
SNAP=tcp://127.0.0.1:$(free_port)

psqlq -c "CREATE EXTENSION tablepub" \
      -c "CREATE TABLE big (id bigint PRIMARY KEY, n int NOT NULL, label text, at timestamptz)" \
      -c "INSERT INTO big SELECT g, g % 1000, 'row ' || g, '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $BIG) g" \
      -c "CREATE TABLE joined (id bigint PRIMARY KEY, n int NOT NULL, label text, at timestamptz)" \
      -c "INSERT INTO joined SELECT g, g % 1000, 'row ' || g, now() FROM generate_series(1, $JOIN) g" \
      -c "VACUUM ANALYZE" \
      -c "SELECT tablepub.publish('big')" -c "SELECT tablepub.publish('joined')" >/dev/null

"$RELAY" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" --publish "$PUB" --snapshot "$SNAP" \
    --log-level warn >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
track "$RELAY_PID"
sleep 2
RSS_BEFORE=$(awk '/VmRSS/{printf "%.0f", $2 / 1024}' "/proc/$RELAY_PID/status")

read -r BIG_ROWS BIG_SECS < <("$CLIENT" rows "$SNAP" public.big 16)
BIG_RATE=$(awk "BEGIN { printf \"%.0f\", $BIG_ROWS / $BIG_SECS }")
PEAK=$(awk '/VmHWM/{printf "%.0f", $2 / 1024}' "/proc/$RELAY_PID/status")
echo "snapshot: $BIG_ROWS rows in $BIG_SECS s = $BIG_RATE rows/s; relay RSS $RSS_BEFORE MB before, peak $PEAK MB" >&2

cat >"$WORK/update.sql" <<SQL
\set id random(1, $JOIN)
UPDATE joined SET n = n + 1, at = now() WHERE id = :id;
SQL
pgbench -n -c 2 -j 2 -R "$RATE" -T 600 -f "$WORK/update.sql" >"$WORK/pgbench.out" 2>&1 &
PGBENCH_PID=$!
track "$PGBENCH_PID"
sleep 3
read -r JOIN_ROWS JOIN_SECS < <("$CLIENT" join "$PUB" "$SNAP" public.joined)
stop_pid "$PGBENCH_PID"
echo "join: live with $JOIN_ROWS rows after $JOIN_SECS s" >&2

cat <<MD
Machine: $(machine_line)
Command: bench/snapshot.sh --big $BIG --join $JOIN --rate $RATE

| snapshot of a $BIG-row table to one subscriber | value |
| --- | ---: |
| rows | $BIG_ROWS |
| seconds | $BIG_SECS |
| rows/s | $BIG_RATE |
| relay RSS before / peak | $RSS_BEFORE MB / $PEAK MB |

| subscriber joins a $JOIN-row table under $RATE updates/s | value |
| --- | ---: |
| rows in mirror when live | $JOIN_ROWS |
| seconds from start to live | $JOIN_SECS |
MD
