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
#  * --baseline BUILD_DIR instead of a program: A runs that build's relay,
#    tail and C++ subscriber (B this build's), to compare relay changes too.
#  * --subscriber: every round also drains into the C++ library's
#    subscriber (tablepub-bench-subscriber: parses every message, checks
#    seq continuity); its rate is changes / (its first to last change).
#  * CPU per process (issue 10: on 2 shared cores the processes compete, so
#    CPU-seconds are steadier than rates): the relay's, its database
#    backend's and the consumer's user + system seconds per 100k changes,
#    read from /proc when the drain is over (relay and backend from their
#    start: connecting and the start delay cost next to nothing).
#  * --profile DIR: perf record -g of relay, backend and consumer during
#    each drain of the first round, into DIR/<who>-<consumer>.data.
#  * Completeness (--complete-runs K): the issue's setting, the relay's
#    default --send-hwm (100000) and the tail with --snapshot-endpoint;
#    each run's file must hold every change exactly once, in seq order.
#
#   bench/tail_drain.sh [BUILD_DIR] [--rows N] [--rounds R (0: completeness runs only)] [--baseline TAIL_BIN|BUILD_DIR] [--subscriber]
#                       [--profile DIR] [--complete-runs K]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILD=build; ROWS=250000; ROUNDS=5; BASELINE=; COMPLETE_RUNS=3; SUBSCRIBER=; PROFILE=
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { BUILD=$1; shift; }
while [ $# -gt 0 ]; do
    case $1 in
        --rows) ROWS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --baseline) BASELINE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
        --complete-runs) COMPLETE_RUNS=$2; shift 2 ;;
        --subscriber) SUBSCRIBER=1; shift ;;
        --profile) mkdir -p "$2"; PROFILE=$(cd "$2" && pwd); shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
RELAY=$BENCH_ROOT/$BUILD/bin/tablepub-relay
TAIL=$BENCH_ROOT/$BUILD/bin/tablepub-tail
SUB=$BENCH_ROOT/$BUILD/bin/tablepub-bench-subscriber
if ! [ -x "$RELAY" ] || ! [ -x "$TAIL" ] || ! [ -x "$SUB" ]; then echo "build the relay first (make)" >&2; exit 1; fi
# The programs of A: a tail alone runs with this build's relay.
A_RELAY=$RELAY A_TAIL=$BASELINE A_SUB=$SUB
if [ -d "$BASELINE" ]; then
    A_RELAY=$(tool_path "$BASELINE" tablepub-relay) A_TAIL=$(tool_path "$BASELINE" tablepub-tail)
    A_SUB=$(tool_path "$BASELINE" tablepub-bench-subscriber)
    if ! [ -x "$A_RELAY" ] || ! [ -x "$A_TAIL" ] || ! [ -x "$A_SUB" ]; then
        echo "$BASELINE: no relay, tail or subscriber" >&2
        exit 1
    fi
fi
CHANGES=$((2 * ROWS))
TICKS=$(getconf CLK_TCK)

start_cluster
WORK=$BENCH_DIR/bench
mkdir -p "$WORK"
PUB=tcp://127.0.0.1:$(free_port) SNAP=tcp://127.0.0.1:$(free_port)
RELAY_PID=
START_DELAY_S=0.5  # --start-delay below
start_relay() {  # start_relay SEND_HWM [RELAY_BIN]
    "${2:-$RELAY}" --db "host=$PGHOST port=$PGPORT dbname=postgres user=postgres" --publish "$PUB" --snapshot "$SNAP" \
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

# cpu_s PID: user + system CPU seconds of a live process.
cpu_s() { awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / t }' "/proc/$1/stat"; }
# per100k SECONDS: CPU seconds per 100k changes.
per100k() { awk -v s="$1" -v n="$CHANGES" 'BEGIN { printf "%.3f", s * 100000 / n }'; }

# drain CONSUMER RELAY_BIN CONSUMER_BIN SEND_HWM [TAIL FLAGS...]: one drain
# (CONSUMER tail: into $WORK/out.jsonl; sub: the C++ subscriber); sets RATE
# and CPU_RATE (changes/s), CPU_RELAY, CPU_BACKEND, CPU_CONSUMER (seconds per
# 100k changes), FIRST (tail: seconds from the end of the relay's start
# delay to the first line in the file: mostly the batch query's sort of the
# whole backlog, which returns no row before it has seen every row) and RC
# (the consumer's exit status).
drain() {
    local consumer=$1 relay=$2 bin=$3 hwm=$4; shift 4
    backlog
    rm -f "$WORK/out.jsonl" "$WORK/time.out" "$WORK/sub.out"
    local timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%U %S' -o "$WORK/time.out")
    if [ "$consumer" = tail ]; then
        "${timer[@]}" "$bin" --connect "$PUB" --table public.items --count "$CHANGES" "$@" >"$WORK/out.jsonl" 2>"$WORK/tail.err" &
    else
        "${timer[@]}" "$bin" "$PUB" "$CHANGES" 120000 >"$WORK/sub.out" 2>"$WORK/tail.err" &
    fi
    local tail_pid=$!
    track "$tail_pid"
    sleep 0.3
    start_relay "$hwm" "$relay"
    local t_relay; t_relay=$(now_s)
    local backend='' perf_pid=''
    if [ -n "$PROFILE" ] && [ "${round:-0}" = 1 ]; then
        for _ in $(seq 100); do
            backend=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE application_name = 'tablepub-relay'")
            [ -n "$backend" ] && break
            sleep 0.01
        done
        # the consumer's pid: /usr/bin/time's child
        local cpid; cpid=$(pgrep -P "$tail_pid" || echo "$tail_pid")
        perf record -q -g -p "$RELAY_PID,$backend,$cpid" -o "$PROFILE/${who:-B}-$consumer.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    local t0=''
    if [ "$consumer" = tail ]; then
        for _ in $(seq 12000); do
            [ -s "$WORK/out.jsonl" ] && { t0=$(now_s); break; }
            sleep 0.01
        done
    fi
    RC=0
    wait "$tail_pid" || RC=$?
    local t1; t1=$(now_s)
    [ -n "$perf_pid" ] && { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    backend=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE application_name = 'tablepub-relay'")
    CPU_RELAY=$(per100k "$(cpu_s "$RELAY_PID")")
    CPU_BACKEND=-
    [ -n "$backend" ] && CPU_BACKEND=$(per100k "$(cpu_s "$backend")")
    stop_relay
    if [ "$consumer" = tail ]; then
        RATE=$(awk "BEGIN { printf \"%.0f\", $CHANGES / ($t1 - $t0) }")
        FIRST=$(awk "BEGIN { printf \"%.2f\", $t0 - $t_relay - $START_DELAY_S }")
    else
        local n secs gaps
        read -r n secs gaps _ < <(tail -1 "$WORK/sub.out")
        [ "$n" = "$CHANGES" ] && [ "$gaps" = 0 ] || RC=1
        RATE=$(awk "BEGIN { printf \"%.0f\", $CHANGES / $secs }")
    fi
    CPU_RATE=- CPU_CONSUMER=-
    [ "$consumer" = tail ] || FIRST=-
    if [ -s "$WORK/time.out" ]; then
        CPU_RATE=$(awk -v n="$CHANGES" '{ printf "%.0f", n / ($1 + $2) }' "$WORK/time.out")
        CPU_CONSUMER=$(per100k "$(awk '{ print $1 + $2 }' "$WORK/time.out")")
    fi
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
spread() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }

# Results per key "<who> <consumer>": space-separated runs.
declare -A RUNS CPUR CRELAY CBACK CCONS
consumers="tail"
[ -n "$SUBSCRIBER" ] && consumers="tail sub"
for round in $(seq "$ROUNDS"); do
    order="B"
    [ -n "$BASELINE" ] && { [ $((round % 2)) = 1 ] && order="A B" || order="B A"; }
    for who in $order; do
        for consumer in $consumers; do
            relay=$RELAY bin=$TAIL
            [ "$consumer" = sub ] && bin=$SUB
            if [ "$who" = A ]; then
                relay=$A_RELAY bin=$A_TAIL
                [ "$consumer" = sub ] && bin=$A_SUB
            fi
            drain "$consumer" "$relay" "$bin" 100000000
            [ "$RC" = 0 ] || { echo "round $round $who $consumer: exited $RC" >&2; cat "$WORK/tail.err" "$WORK/sub.out" >&2 2>/dev/null; exit 1; }
            k="$who $consumer"
            RUNS[$k]+="$RATE " CPUR[$k]+="$CPU_RATE " CRELAY[$k]+="$CPU_RELAY " CBACK[$k]+="$CPU_BACKEND " CCONS[$k]+="$CPU_CONSUMER "
            echo "round $round $who $consumer: $RATE changes/s, $CPU_RATE per consumer CPU second; CPU s per 100k: relay $CPU_RELAY, backend $CPU_BACKEND, consumer $CPU_CONSUMER; first line after ${FIRST} s" >&2
        done
    done
done

# Completeness in the issue's setting.
COMPLETE=0
for run in $(seq "$COMPLETE_RUNS"); do
    drain tail "$RELAY" "$TAIL" 100000 --snapshot-endpoint "$SNAP"
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
Command: bench/tail_drain.sh $BUILD --rows $ROWS --rounds $ROUNDS${BASELINE:+ --baseline $BASELINE}${SUBSCRIBER:+ --subscriber} --complete-runs $COMPLETE_RUNS
MD
# --rounds 0: the completeness runs alone, no table of rates.
[ "$ROUNDS" -gt 0 ] && cat <<MD

| $CHANGES-change backlog drained by | changes/s: runs | median | spread | CPU s per 100k changes, medians: relay | its backend | consumer |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
MD
for who in A B; do
    [ "$ROUNDS" -gt 0 ] || break
    [ "$who" = A ] && [ -z "$BASELINE" ] && continue
    for consumer in $consumers; do
        k="$who $consumer"
        name="tablepub-tail, raw mode, into a file"
        [ "$consumer" = sub ] && name="C++ subscriber (tablepub-bench-subscriber)"
        build=$BENCH_ROOT/$BUILD
        [ "$who" = A ] && build=$BASELINE
        # shellcheck disable=SC2086
        echo "| $who: $name ($build) | ${RUNS[$k]% } | $(median ${RUNS[$k]}) | $(spread ${RUNS[$k]}) | $(median ${CRELAY[$k]}) | $(median ${CBACK[$k]}) | $(median ${CCONS[$k]}) |"
    done
done
echo
echo "Complete (every change once, in seq order, exit 0) with --send-hwm 100000 and --snapshot-endpoint: $COMPLETE of $COMPLETE_RUNS runs."
