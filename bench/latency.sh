#!/usr/bin/env bash
# Commit-to-subscriber latency (issue 3, point 10).
#
# pgbench drives single-row INSERT transactions at a fixed rate (default
# 1000 tx/s) into a published table; each row stores clock_timestamp() taken
# just before COMMIT. A subscriber receives the deltas through the relay and
# records receive time - that timestamp, so the commit itself (WAL flush)
# is included in the figure. Prints a markdown report.
#
#   bench/latency.sh [BUILD_DIR] [--rate N] [--duration SECONDS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=build; RATE=1000; DURATION=20
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { BUILD=$1; shift; }
while [ $# -gt 0 ]; do
    case $1 in
        --rate) RATE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
RELAY=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-relay)
[ -n "$RELAY" ] && [ -x "$RELAY" ] || { echo "build the relay first (make)" >&2; exit 1; }

start_cluster
WORK=$BENCH_DIR/bench
mkdir -p "$WORK"
protoc -I "$BENCH_ROOT/proto" --python_out="$WORK" "$BENCH_ROOT/proto/tablepub.proto"

psqlq -c "CREATE EXTENSION tablepub" \
      -c "CREATE TABLE lat (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, payload text)" \
      -c "SELECT tablepub.publish('lat')" >/dev/null

PORT=$(free_port)
"$RELAY" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" \
    --publish "tcp://127.0.0.1:$PORT" --log-level warn >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
track "$RELAY_PID"

COUNT=$((RATE * DURATION))
PYTHONPATH=$WORK /usr/bin/python3 "$BENCH_ROOT/bench/tools/latency_sub.py" --connect "tcp://127.0.0.1:$PORT" \
    --topic public.lat --count "$COUNT" --timeout 5 --ready-file "$WORK/ready" >"$WORK/latency.out" &
SUB_PID=$!
track "$SUB_PID"
while [ ! -e "$WORK/ready" ]; do sleep 0.1; done
sleep 1   # let the SUB connection and subscription settle

cat >"$WORK/insert.sql" <<'SQL'
INSERT INTO lat (ts, payload) VALUES (clock_timestamp(), 'latency probe');
SQL
pgbench -n -c 4 -j 2 -R "$RATE" -T "$DURATION" -f "$WORK/insert.sql" >"$WORK/pgbench.out" 2>&1
wait $SUB_PID
read -r n p50 p90 p99 pmax <"$WORK/latency.out"
tps=$(awk '/^tps = /{print $3}' "$WORK/pgbench.out")

cat <<MD
Machine: $(machine_line)
Command: bench/latency.sh --rate $RATE --duration $DURATION

| commit-to-subscriber latency at $RATE tx/s (achieved $tps tx/s, $n deltas) | ms |
| --- | ---: |
| p50 | $p50 |
| p90 | $p90 |
| p99 | $p99 |
| max | $pmax |
MD
