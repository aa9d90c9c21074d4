#!/usr/bin/env bash
# The figures of docs/scaling.md, in one short run (about 5 minutes on 2
# cores). Prints a markdown report; every comparison is measured in
# alternating rounds of the same run.
#
#  1. ZeroMQ fan-out: one PUB to 1, 10, 50 local SUB sockets, direct and
#     through libzmq's zmq_proxy (XSUB/XPUB), FANOUT_MESSAGES messages of
#     FANOUT_SIZE bytes (tablepub-bench-fanout).
#  2. RabbitMQ fan-out: one publisher, 1, 10, 50 queues bound to the same
#     routing key, AMQP_MESSAGES messages (bench/fanout_amqp.py, a
#     throwaway broker as in tests/amqp).
#  3. N concurrent snapshots (1, 4, 16) of a SNAP_ROWS-row table through one
#     relay (--snapshot-max-streams 16): wall time, CPU of the database
#     (every backend, exited ones included) and of the relay; then 16 at
#     once against the default limit (8).
#  4. The relay's CPU with and without --amqp at RATE single-row inserts/s
#     (the end-to-end latency benchmark's rate) for DURATION seconds per
#     round, and the database's CPU in the same windows.
#
#   bench/scaling.sh [BUILD_DIR]
#   (ROUNDS, FANOUT_MESSAGES, FANOUT_SIZE, AMQP_MESSAGES, SNAP_ROWS, RATE,
#   DURATION from the environment; PARTS="fanout snapshots sink" chooses)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BUILD=${1:-build}
ROUNDS=${ROUNDS:-2}
FANOUT_MESSAGES=${FANOUT_MESSAGES:-200000}
FANOUT_SIZE=${FANOUT_SIZE:-120}
AMQP_MESSAGES=${AMQP_MESSAGES:-3000}
PARTS=${PARTS:-fanout snapshots sink}
part() { [[ " $PARTS " == *" $1 "* ]]; }
SNAP_ROWS=${SNAP_ROWS:-300000}
RATE=${RATE:-1000}
DURATION=${DURATION:-20}
RELAY=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-relay)
FANOUT=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-bench-fanout)
SNAPSHOT=$(tool_path "$BENCH_ROOT/$BUILD" tablepub-bench-snapshot)
[ -x "$RELAY" ] && [ -x "$FANOUT" ] && [ -x "$SNAPSHOT" ] || { echo "build first (make)" >&2; exit 1; }
py=/usr/bin/python3

start_cluster
WORK=$BENCH_DIR/bench
mkdir -p "$WORK"
. "$BENCH_ROOT/tests/amqp/broker.sh"
broker_init "$WORK/broker"
trap 'broker_cleanup; stop_cluster' EXIT
trap 'exit 130' INT TERM
broker_start >/dev/null

# ticks PID: CPU time (user + system, clock ticks) of PID; with "all", its
# waited-for children's too.
ticks() {
    awk -v all="${2:-}" '{ t = $14 + $15; if (all != "") t += $16 + $17; print t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# db_ticks: the database's CPU so far: the postmaster, its live children and
# those that exited.
db_ticks() {
    local pm c t
    pm=$(head -1 "$PGTMP_DIR/data/postmaster.pid")
    t=$(ticks "$pm" all)
    for c in $(pgrep -P "$pm"); do t=$((t + $(ticks "$c"))); done
    echo "$t"
}
hz=$(getconf CLK_TCK)
secs() { calc "$1 / $hz"; }

echo "Machine: $(machine_line); shared with 4 other sessions' builds and tests (load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "Command: bench/scaling.sh (ROUNDS=$ROUNDS FANOUT_MESSAGES=$FANOUT_MESSAGES FANOUT_SIZE=$FANOUT_SIZE AMQP_MESSAGES=$AMQP_MESSAGES SNAP_ROWS=$SNAP_ROWS RATE=$RATE DURATION=$DURATION)"
echo

# --- 1 and 2: fan-out ---------------------------------------------------
part fanout && echo "| transport | subscribers | round | seconds | messages/s per subscriber | deliveries/s | consumer process CPU s |"
part fanout && echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
part fanout && for round in $(seq "$ROUNDS"); do
    for n in 1 10 50; do
        for mode in direct proxy; do
            read -r _ _ s per all < <("$FANOUT" "$mode" "$n" "$FANOUT_MESSAGES" "$FANOUT_SIZE")
            echo "| ZeroMQ $mode | $n | $round | $s | $per | $all | |"
        done
        read -r _ _ s per all cpu < <("$py" "$BENCH_ROOT/bench/fanout_amqp.py" "$BROKER_PORT" "$n" "$AMQP_MESSAGES" "$FANOUT_SIZE")
        echo "| RabbitMQ | $n | $round | $s | $per | $all | $cpu |"
    done
done
echo

# --- 3: concurrent snapshots -------------------------------------------
PUB=tcp://127.0.0.1:$(free_port)
SNAP=tcp://127.0.0.1:$(free_port)
psqlq -c "CREATE EXTENSION tablepub" \
      -c "CREATE TABLE big (id bigint PRIMARY KEY, n int NOT NULL, label text, at timestamptz)" \
      -c "INSERT INTO big SELECT g, g % 1000, 'row ' || g, '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $SNAP_ROWS) g" \
      -c "CREATE TABLE w (id bigserial PRIMARY KEY, v text, at timestamptz DEFAULT now())" \
      -c "VACUUM ANALYZE" \
      -c "SELECT tablepub.publish('big')" -c "SELECT tablepub.publish('w')" >/dev/null

# start_relay LIMIT [flags]: a relay with LIMIT concurrent snapshot streams.
start_relay() {
    local limit=$1; shift
    "$RELAY" --db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=postgres" --publish "$PUB" \
        --snapshot "$SNAP" --snapshot-max-streams "$limit" --snapshot-max-streams-per-peer "$limit" \
        --log-level warn "$@" >>"$WORK/relay.log" 2>&1 &
    RELAY_PID=$!
    track "$RELAY_PID"
    # Ready once it answers a snapshot request.
    until "$SNAPSHOT" rows "$SNAP" public.w 16 >/dev/null 2>&1; do
        kill -0 "$RELAY_PID" 2>/dev/null || { cat "$WORK/relay.log" >&2; exit 1; }
        sleep 0.2
    done
}

# snapshots K: K clients ask at once; prints "<wall s> <db cpu s> <relay cpu s> <errors>".
snapshots() {
    local k=$1 i t0 d0 r0 pids=() errors=0
    d0=$(db_ticks); r0=$(ticks "$RELAY_PID"); t0=$(now_s)
    for i in $(seq "$k"); do
        "$SNAPSHOT" rows "$SNAP" public.big 16 >"$WORK/snap.$i" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || errors=$((errors + 1)); done
    echo "$(calc "$(now_s) - $t0") $(secs $(( $(db_ticks) - d0 ))) $(secs $(( $(ticks "$RELAY_PID") - r0 ))) $errors"
}

if part snapshots; then
echo "| concurrent snapshots of $SNAP_ROWS rows | stream limit | round | wall s | database CPU s | relay CPU s | refused (BUSY) |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
start_relay 16
for round in $(seq "$ROUNDS"); do
    for k in 1 4 16; do
        read -r wall db rel err < <(snapshots "$k")
        echo "| $k | 16 | $round | $wall | $db | $rel | $err |"
    done
done
stop_pid "$RELAY_PID"
start_relay 8
read -r wall db rel err < <(snapshots 16)
echo "| 16 | 8 (default) | 1 | $wall | $db | $rel | $err |"
stop_pid "$RELAY_PID"
echo
fi
part sink || exit 0

# --- 4: the AMQP sink's cost -------------------------------------------
"$py" - "$BROKER_PORT" <<'PY'
import sys, amqp
c = amqp.Connection(host="127.0.0.1:" + sys.argv[1], userid="guest", password="guest"); c.connect()
ch = c.channel()
ch.exchange_declare("tablepub", "topic", durable=True, auto_delete=False)
ch.queue_declare("bench_sink", durable=True, auto_delete=False)
ch.queue_bind("bench_sink", "tablepub", "tablepub.#")
c.close()
PY
cat >"$WORK/insert.sql" <<'SQL'
INSERT INTO w (v) VALUES ('a value of some length for the bench');
SQL
echo "| relay | round | inserts | relay CPU s | relay CPU % | database CPU s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for round in $(seq "$ROUNDS"); do
    for variant in zeromq amqp; do
        flags=()
        [ "$variant" = amqp ] && flags=(--amqp "$BROKER_URL")
        start_relay 8 "${flags[@]+"${flags[@]}"}"
        d0=$(db_ticks); r0=$(ticks "$RELAY_PID")
        pgbench -n -c 2 -j 2 -R "$RATE" -T "$DURATION" -f "$WORK/insert.sql" >"$WORK/pgbench.out" 2>&1
        n=$(awk '/number of transactions actually processed/{print $NF}' "$WORK/pgbench.out" | cut -d/ -f1)
        rel=$(secs $(( $(ticks "$RELAY_PID") - r0 ))); db=$(secs $(( $(db_ticks) - d0 )))
        echo "| ZeroMQ$([ "$variant" = amqp ] && echo " + --amqp") | $round | $n | $rel | $(calc "100 * $rel / $DURATION") | $db |"
        stop_pid "$RELAY_PID"
    done
done
