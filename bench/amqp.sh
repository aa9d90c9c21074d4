#!/usr/bin/env bash
# Throughput of the RabbitMQ sink: a backlog of ROWS single-row changes (one
# INSERT ... SELECT) drained by a relay, A/B in alternating rounds on one
# cluster and one broker:
#   A  ZeroMQ alone: relay start -> a tablepub-tail has received every change;
#   B  with --amqp: relay start -> the sink's position covers the backlog
#      (every message confirmed by the broker, persistent, into a durable
#      queue), and the ZeroMQ tail's time in the same round.
# usage: bench/amqp.sh [BUILD] (ROWS, ROUNDS from the environment; BENCH_QUEUE=0:
# no queue bound, so the broker confirms without storing anything)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
ROWS=${ROWS:-100000}
ROUNDS=${ROUNDS:-3}
py=/usr/bin/python3
D=$(mktemp -d /tmp/tablepub-bench-amqp.XXXX)
chmod 755 "$D"
. "$root/tests/lib/procs.sh"
. "$root/tests/amqp/broker.sh"
relay_pid="" tail_pid=""
cleanup() {
    stop_pid "$relay_pid"; stop_pid "$tail_pid"
    broker_cleanup
    "$root/tests/lib/pgtmp" stop "$D/pg" >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT
broker_init "$D/broker"
broker_start >/dev/null
"$root/tests/lib/pgtmp" start "$D/pg" --owner $$ >/dev/null
. "$D/pg/env"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE ROLE tp_relay LOGIN IN ROLE tablepub_relay;
CREATE TABLE public.b (id int PRIMARY KEY, v text);
SELECT tablepub.publish('public.b');
SQL
sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
[ "${BENCH_QUEUE:-1}" = 1 ] && "$py" - "$BROKER_PORT" <<'PY'
import amqp, sys
c = amqp.Connection(host="127.0.0.1:" + sys.argv[1], userid="guest", password="guest"); c.connect()
ch = c.channel()
ch.exchange_declare("tablepub", "topic", durable=True, auto_delete=False)
ch.queue_declare("bench", durable=True, auto_delete=False)
ch.queue_bind("bench", "tablepub", "tablepub.public.#")
c.close()
PY
pub=tcp://127.0.0.1:$(free_port)
base=0
now() { date +%s.%N; }
round() {
    local mode=$1 t0 tz ta="" last
    sql "INSERT INTO public.b SELECT g, 'row ' || g FROM generate_series($base + 1, $base + $ROWS) g"
    base=$((base + ROWS))
    last=$(sql "SELECT coalesce(max(last_seq), 0) FROM tablepub.relay_stream")
    "$build/bin/tablepub-tail" --connect "$pub" --table public.b --count "$ROWS" >/dev/null 2>"$D/tail.err" &
    tail_pid=$!
    local flags=()
    if [ "$mode" = B ]; then
        # The sink starts where the relay is, not behind the A rounds.
        sql "UPDATE tablepub.relay_amqp_position p SET last_batch = s.last_batch, consumed = s.consumed FROM tablepub.relay_state s"
        flags=(--amqp "$BROKER_URL")
    fi
    t0=$(now)
    "$build/bin/tablepub-relay" --db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=tp_relay" \
        --publish "$pub" --start-delay 300ms "${flags[@]}" 2>>"$D/relay.log" &
    relay_pid=$!
    wait "$tail_pid"; tz=$(now); tail_pid=""
    if [ "$mode" = B ]; then
        until [ "$(sql "SELECT count(*) > 0 AND bool_and(p.last_batch >= s.last_batch) FROM tablepub.relay_amqp_position p, tablepub.relay_state s")" = t ]; do
            sleep 0.02
        done
        ta=$(now)
    fi
    stop_pid "$relay_pid"; relay_pid=""
    "$py" -c "
import sys
t0, tz, ta, n = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = '%s  ZeroMQ %6.2f s %8.0f msg/s' % (sys.argv[5], tz - t0, n / (tz - t0))
if ta: s += '   RabbitMQ (confirmed) %6.2f s %8.0f msg/s' % (float(ta) - t0, n / (float(ta) - t0))
print(s)" "$t0" "$tz" "$ta" "$ROWS" "$mode"
}
echo "backlog of $ROWS single-row changes per round, relay start included (start delay 300 ms)"
for i in $(seq "$ROUNDS"); do round A; round B; done
