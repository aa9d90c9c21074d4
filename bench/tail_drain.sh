#!/usr/bin/env bash
# tablepub-tail keeping up with a backlog (issue 15): ROWS INSERTs and ROWS
# UPDATEs (two transactions) are committed while the relay is stopped; then
# the tail (raw mode, output into a file) and the relay start, and the tail
# prints the 2 x ROWS changes. Rate = changes / (tail exit - first byte in
# the file): the drain through relay and tail together. CPU rate = changes
# / the tail's own user + system CPU seconds (/usr/bin/time): what the
# tail alone could print on one core, less disturbed by a busy machine.
#
#  * Speed: the relay runs with a --send-hwm large enough that nothing is
#    dropped, so both tails print the same lines. With --baseline BIN, that
#    tail and this build's alternate round by round (ABBA...), on the same
#    cluster: compare the medians, not single runs, on a shared machine.
#  * Completeness (--complete-runs K): the issue's setting, the relay's
#    default --send-hwm (100000) and the tail with --snapshot-endpoint;
#    each run's file must hold every change exactly once, in seq order.
#
#   bench/tail_drain.sh [BUILD_DIR] [--rows N] [--rounds R] [--baseline TAIL_BIN] [--complete-runs K]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=build; ROWS=250000; ROUNDS=5; BASELINE=; COMPLETE_RUNS=3
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { BUILD=$1; shift; }
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --baseline) BASELINE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --complete-runs) COMPLETE_RUNS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
RELAY=$BENCH_ROOT/$BUILD/bin/tablepub-relay
TAIL=$BENCH_ROOT/$BUILD/bin/tablepub-tail
[ -x "$RELAY" ] && [ -x "$TAIL" ] || { echo "build the relay first (make)" >&2; exit 1; }
CHANGES=$((2 * ROWS))

start_cluster
WORK=$BENCH_DIR/bench
mkdir -p "$WORK"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PUB=tcp://127.0.0.1:$(free_port) SNAP=tcp://127.0.0.1:$(free_port)
RELAY_PID=
start_relay() {  # start_relay SEND_HWM
    "$RELAY" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" --publish "$PUB" --snapshot "$SNAP" \
        --send-hwm "$1" --start-delay 500ms --log-level warn >>"$WORK/relay.log" 2>&1 &
    RELAY_PID=$!
    track "$RELAY_PID"
}
stop_relay() { stop_pid "$RELAY_PID"; RELAY_PID=; }

psqlq -c "CREATE EXTENSION tablepub" \
      -c "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, label text, at timestamptz)" \
      -c "SELECT FROM tablepub.publish('items')" >/dev/null
# The relay records its starting position the first time it runs.
start_relay 1000; sleep 2; stop_relay

NEXT_ID=1
backlog() {
    psqlq -c "INSERT INTO items SELECT g, g % 1000, 'item ' || g, now() FROM generate_series($NEXT_ID, $((NEXT_ID + ROWS - 1))) g" \
          -c "UPDATE items SET n = n + 1 WHERE id >= $NEXT_ID" >/dev/null
    NEXT_ID=$((NEXT_ID + ROWS))
    psqlq -c "CHECKPOINT" >/dev/null
}

# drain TAIL_BIN SEND_HWM [TAIL FLAGS...]: one drain into $WORK/out.jsonl;
# sets RATE and CPU_RATE (changes/s) and RC (the tail's exit status).
drain() {
    local bin=$1 hwm=$2; shift 2
    backlog
    rm -f "$WORK/out.jsonl" "$WORK/time.out"
    local timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%U %S' -o "$WORK/time.out")
    "${timer[@]}" "$bin" --connect "$PUB" --table public.items --count "$CHANGES" "$@" >"$WORK/out.jsonl" 2>"$WORK/tail.err" &
    local tail_pid=$!
    track "$tail_pid"
    sleep 0.3
    start_relay "$hwm"
    local t0= i
    for i in $(seq 12000); do
        [ -s "$WORK/out.jsonl" ] && { t0=$(now_s); break; }
        sleep 0.01
    done
    RC=0
    wait "$tail_pid" || RC=$?
    local t1; t1=$(now_s)
    stop_relay
    RATE=$(awk "BEGIN { printf \"%.0f\", $CHANGES / ($t1 - $t0) }")
    CPU_RATE=-
    [ -s "$WORK/time.out" ] && CPU_RATE=$(awk -v n="$CHANGES" '{ printf "%.0f", n / ($1 + $2) }' "$WORK/time.out")
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
spread() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }

A_RUNS=() B_RUNS=() A_CPU=() B_CPU=()
for round in $(seq "$ROUNDS"); do
    order="B"
    [ -n "$BASELINE" ] && { [ $((round % 2)) = 1 ] && order="A B" || order="B A"; }
    for who in $order; do
        bin=$TAIL; [ "$who" = A ] && bin=$BASELINE
        drain "$bin" 100000000
        [ "$RC" = 0 ] || { echo "round $round $who: the tail exited $RC" >&2; cat "$WORK/tail.err" >&2; exit 1; }
        if [ "$who" = A ]; then A_RUNS+=("$RATE"); A_CPU+=("$CPU_RATE"); else B_RUNS+=("$RATE"); B_CPU+=("$CPU_RATE"); fi
        echo "round $round $who: $RATE changes/s, $CPU_RATE per tail CPU second" >&2
    done
done

# Completeness in the issue's setting.
COMPLETE=0
for run in $(seq "$COMPLETE_RUNS"); do
    drain "$TAIL" 100000 --snapshot-endpoint "$SNAP"
    if python3 - "$WORK/out.jsonl" "$CHANGES" <<'PY'
import json, sys
seqs = [json.loads(line)["seq"] for line in open(sys.argv[1], encoding="utf-8")]
want = int(sys.argv[2])
ok = len(seqs) == want and all(b == a + 1 for a, b in zip(seqs, seqs[1:]))
print(f"{len(seqs)} changes, contiguous in seq order: {ok}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
    then [ "$RC" = 0 ] && COMPLETE=$((COMPLETE + 1)); fi
    echo "complete run $run: exit $RC, $RATE changes/s, $(grep -o 'replay(s) printed [0-9]* message' "$WORK/tail.err" || echo 'no replay')" >&2
done

cat <<MD
Machine: $(machine_line)
Command: bench/tail_drain.sh $BUILD --rows $ROWS --rounds $ROUNDS${BASELINE:+ --baseline $BASELINE} --complete-runs $COMPLETE_RUNS

| tablepub-tail, raw mode, $CHANGES-change backlog into a file | drain runs (changes/s) | median | spread | per tail CPU second: runs | median |
| --- | --- | ---: | ---: | --- | ---: |
MD
[ -n "$BASELINE" ] && echo "| A: $BASELINE | ${A_RUNS[*]} | $(median "${A_RUNS[@]}") | $(spread "${A_RUNS[@]}") | ${A_CPU[*]} | $(median "${A_CPU[@]}") |"
echo "| B: $TAIL | ${B_RUNS[*]} | $(median "${B_RUNS[@]}") | $(spread "${B_RUNS[@]}") | ${B_CPU[*]} | $(median "${B_CPU[@]}") |"
echo
echo "Complete (every change once, in seq order, exit 0) with --send-hwm 100000 and --snapshot-endpoint: $COMPLETE of $COMPLETE_RUNS runs."
