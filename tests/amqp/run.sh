#!/usr/bin/env bash
# The relay's RabbitMQ sink against a real broker (Debian's rabbitmq-server
# in a temp dir, tests/amqp/broker.sh) and a real PostgreSQL; the relay runs
# as a login whose only privilege is membership in tablepub_relay.
#
#   tests/amqp/run.sh [--short] [BUILD]
#
# --short (make test): (a) a consumer bound to "tablepub.public.#" gets
# every change of a workload exactly once per seq and mirrors the table row
# by row; (e) the Python client (tablepub_client.amqp) joins mid-stream
# (snapshot from the relay, deltas from its own queue) and ends equal to
# the table through a relay kill -9 under writes; (d) an unmodified oslo.messaging notification listener receives
# the changes of a table through --amqp-format oslo and mirrors it too.
# Without it (make test-amqp) also: (b) the relay killed with SIGKILL in the
# middle of the stream and restarted: duplicates allowed, nothing lost;
# (c) the broker stopped while writes go on: a ZeroMQ subscriber receives
# every change meanwhile, the broker is restarted and the consumer catches
# up with nothing lost (the Python client too: its exclusive queue is gone
# with the broker, and it replays what it missed); and the oslo listener (durable queue) through a
# relay kill and a broker restart.
# Nothing sleeps to synchronize: every wait polls for a condition and fails
# after AMQP_TIMEOUT seconds (default 180).
set -euo pipefail
short=0
[ "${1:-}" = --short ] && { short=1; shift; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
tail_bin=$build/bin/tablepub-tail
py=/usr/bin/python3
[ -x "$py" ] || py=python3
TIMEOUT=${AMQP_TIMEOUT:-180}
t_start=$(date +%s)
export PGCLIENTENCODING=UTF8

D=$(mktemp -d /tmp/tablepub-amqp.XXXX)
chmod 755 "$D"
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/workdir.sh"
. "$root/tests/lib/all_published.sh"
. "$here/broker.sh"
declare -A PID=()

cleanup() {
    local rc=$? n
    trap - EXIT
    # CONT first: (c) keeps the Python client stopped for a while.
    for n in "${!PID[@]}"; do kill -CONT "${PID[$n]}" 2>/dev/null || true; stop_pid "${PID[$n]}"; done
    broker_cleanup
    "$root/tests/lib/pgtmp" stop "$D/pg" >/dev/null 2>&1 || true
    end_workdir $rc "$D" 15 "amqp test: FAILED after $(( $(date +%s) - t_start )) s (logs kept in $D)" \
        "$D"/*.log "$D"/*.err "$D/broker/server.log"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "[amqp $(( $(date +%s) - t_start ))s] $*"; }

# wait_for WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local what=$1 t0; shift
    t0=$(date +%s)
    until "$@" >/dev/null 2>&1; do
        [ $(( $(date +%s) - t0 )) -lt "$TIMEOUT" ] || fail "timed out after ${TIMEOUT}s waiting for $what"
        sleep 0.05
    done
}

# The broker starts in the background while PostgreSQL is set up.
broker_init "$D/broker"
broker_launch
broker_wait >"$D/broker-start.log" 2>&1 &
broker_starting=$!

"$root/tests/lib/pgtmp" start "$D/pg" --owner $$ >/dev/null
. "$D/pg/env"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE ROLE tp_relay LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS IN ROLE tablepub_relay;
CREATE TABLE public.items (id int PRIMARY KEY, v text, n bigint);
CREATE TABLE public.events (id int PRIMARY KEY, kind text, n bigint);
-- One transaction per iteration: inserts, updates (one a key change), deletes;
-- every fifth one a multi-row update too (packed outbox rows, which the
-- forwarder splits as the relay does).
CREATE PROCEDURE public.work(tbl regclass, base int, n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN base .. base + n - 1 LOOP
        EXECUTE format('INSERT INTO %s VALUES ($1, $2, $3)', tbl) USING i, 'v' || i, i;
        EXECUTE format('UPDATE %s SET n = n + 1 WHERE id = $1', tbl) USING i - 3;
        IF i % 5 = 0 THEN
            EXECUTE format('UPDATE %s SET n = n + 1 WHERE id BETWEEN $1 AND $1 + 4', tbl) USING i - 9;
        END IF;
        IF i % 7 = 0 THEN
            EXECUTE format('DELETE FROM %s WHERE id = $1', tbl) USING i - 5;
        END IF;
        IF i % 11 = 0 THEN
            EXECUTE format('UPDATE %s SET id = -id WHERE id = $1', tbl) USING i - 1;
        END IF;
        COMMIT;
    END LOOP;
END $$;
SQL
sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
pub=tcp://127.0.0.1:$(free_port)
snap=tcp://127.0.0.1:$(free_port)
wait "$broker_starting" || { cat "$D/broker-start.log" >&2; fail "the broker did not start"; }
log "broker up on $BROKER_URL"

# relay NAME [flags]: (re)starts the relay.
relay() {
    local name=$1; shift
    "$relay_bin" --db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=tp_relay" \
        --publish "$pub" --snapshot "$snap" --poll-interval 200 --start-delay 100 \
        --amqp "$BROKER_URL" --amqp-confirm-timeout 2s "$@" 2>>"$D/relay-$name.log" &
    PID[relay]=$!
}

# The ZeroMQ side: a raw tail of everything the relay publishes.
"$tail_bin" --connect "$pub" >"$D/zmq.jsonl" 2>"$D/zmq.err" &
PID[zmq]=$!

mkdir -p "$D/python"
protoc -I "$root/proto" --python_out="$D/python" "$root/proto/tablepub.proto"
export PYTHONPATH="$D/python:$here:$root/clients/python"
"$py" "$here/consumer.py" "$BROKER_PORT" tablepub "tablepub.public.#" tp_test "$D/consumer.json" \
    >"$D/consumer.log" 2>&1 &
PID[consumer]=$!
wait_for "the consumer's queue" test -s "$D/consumer.json"

relay A
sql "SELECT tablepub.publish('public.items')" >/dev/null

# check_mirror STATUS TABLE [DUPS]: the mirror in STATUS has the table's
# last seq, no gap, equals the table row by row, and (DUPS = 0) saw no
# duplicate.
mirror_caught_up() {
    local last
    # The relay's last_seq is final only once it has published every
    # committed change: a relay restarted after a kill may still have the
    # workload's last transactions in the outbox (the Python client then
    # matched a last_seq that was about to grow, 775 of 783 rows).
    last=$(sql "SELECT last_seq FROM tablepub.relay_stream
                 WHERE schema_name = 'public' AND table_name = '$2' AND $ALL_PUBLISHED_SQL")
    [ -n "$last" ] && "$py" -c '
import json, sys
t = json.load(open(sys.argv[1]))["tables"].get(sys.argv[2], {})
sys.exit(0 if t.get("last") == int(sys.argv[3]) else 1)' "$1" "public.$2" "$last"
}
check_mirror() {
    local status=$1 table=$2 dups=${3:-any}
    wait_for "$status to reach the last seq of $table" mirror_caught_up "$status" "$table"
    sql "SELECT coalesce(json_agg(t), '[]') FROM public.$table t" >"$D/$table.rows.json"
    "$py" - "$status" "public.$table" "$D/$table.rows.json" "$dups" <<'PY'
import json, sys
status, name, rows_file, dups = sys.argv[1:5]
t = json.load(open(status))["tables"][name]
key = lambda r: json.dumps(r, sort_keys=True)
want = sorted(json.load(open(rows_file)), key=key)
if t["gaps"]:
    sys.exit("%s: %s: gaps or misfits %s" % (status, name, t["gaps"][:5]))
if dups == "0" and t["dups"]:
    sys.exit("%s: %s: %d duplicates in a run without a crash" % (status, name, t["dups"]))
if t["rows"] != want:
    sys.exit("%s: %s: mirror differs from the table (%d rows vs %d)" % (status, name, len(t["rows"]), len(want)))
print("%s: %d rows equal, last seq %d, %d duplicates dropped" % (name, len(want), t["last"], t["dups"]))
PY
}

# kill_relay_under_work PART FIRST ROWS STATUS AHEAD NAME: writes ROWS rows
# from id FIRST in the background; once the mirror in STATUS is AHEAD seqs
# past where the relay was when they started, kills the relay (-9)
# mid-stream, starts it again as NAME and waits for the writes to end.
kill_relay_under_work() {
    local part=$1 first=$2 rows=$3 status=$4 ahead=$5 name=$6
    psql -qX -c "CALL public.work('public.items', $first, $rows)" >"$D/work-$part.log" 2>&1 &
    PID[work]=$!
    wait_for "$status to get messages of workload ($part)" "$py" -c '
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["tables"]["public.items"]["last"] > int(sys.argv[2]) else 1)' \
        "$status" "$(sql "SELECT last_seq + $ahead FROM tablepub.relay_stream WHERE table_name = 'items'")"
    kill -9 "${PID[relay]}"; wait "${PID[relay]}" 2>/dev/null || true
    log "($part) relay killed mid-stream"
    relay "$name"
    wait "${PID[work]}"; unset 'PID[work]'
}

# (a) every change exactly once per seq, the mirror equal to the table.
sql "CALL public.work('public.items', 1, ${AMQP_ROWS:-300})"
check_mirror "$D/consumer.json" items 0 | sed "s/^/[amqp] (a) /"

# (e) the Python client joins while the table has rows and follows it from
# RabbitMQ; the relay is killed with SIGKILL under writes and restarted.
"$py" "$here/py_mirror.py" "$BROKER_URL" "$snap" public.items "$D/py.json" >"$D/py.log" 2>&1 &
PID[py]=$!
wait_for "the Python client to be live" mirror_caught_up "$D/py.json" items
kill_relay_under_work e 5001 "${AMQP_PY_ROWS:-600}" "$D/py.json" 300 E
check_mirror "$D/py.json" items | sed "s/^/[amqp] (e) Python client: /"

if [ $short -eq 0 ]; then
    # (b) kill -9 the relay while a workload streams, restart it.
    kill_relay_under_work b 10001 2000 "$D/consumer.json" 200 A2
    check_mirror "$D/consumer.json" items | sed "s/^/[amqp] (b) /"

    # (c) the broker stops while writes go on: ZeroMQ keeps publishing.
    # The Python client sleeps (SIGSTOP) until the relay has sent everything
    # again after the restart, so its new queue misses those messages and
    # only its replay after the reconnect can find them.
    kill -STOP "${PID[py]}"
    broker_stop
    log "(c) broker stopped"
    sql "CALL public.work('public.items', 20001, 500)"
    last=$(sql "SELECT max(seq) FROM (SELECT last_seq AS seq FROM tablepub.relay_stream WHERE table_name = 'items') s")
    wait_for "ZeroMQ to deliver seq $last while the broker is down" \
        grep -q "\"seq\":$last,\"table\":\"public.items\"" "$D/zmq.jsonl"
    wait_for "the relay to report the broker outage" grep -q "ZeroMQ publishing continues" "$D/relay-A2.log"
    log "(c) ZeroMQ delivered up to seq $last with the broker down"
    broker_start
    log "(c) broker restarted"
    check_mirror "$D/consumer.json" items | sed "s/^/[amqp] (c) /"
    kill -CONT "${PID[py]}"
    check_mirror "$D/py.json" items | sed "s/^/[amqp] (c) Python client: /"
    grep -q '"connects": [2-9]' "$D/py.json" || fail "the Python client did not reconnect after the broker restart"
fi

# (d) oslo.messaging: the relay restarted with --amqp-format oslo (a new
# sink, starting where the relay is); a table published from then on reaches
# an unmodified notification listener whole.
# The long run makes exchange and queue durable on both sides, and restarts
# the broker under the listener too.
oslo_flags=(--amqp-format oslo) durable=()
[ $short -eq 0 ] && { oslo_flags+=(--amqp-durable true); durable=(durable); }
stop_pid "${PID[relay]}"
relay oslo "${oslo_flags[@]}"
wait_for "the oslo sink to start" grep -q 'RabbitMQ sink "oslo:openstack"' "$D/relay-oslo.log"
"$py" "$here/oslo_listener.py" "rabbit://guest:guest@127.0.0.1:$BROKER_PORT/" openstack notifications "$D/oslo.json" \
    "${durable[@]+"${durable[@]}"}" >"$D/oslo.log" 2>&1 &
PID[oslo]=$!
sql "SELECT tablepub.publish('public.events')" >/dev/null
sql "CALL public.work('public.events', 1, ${AMQP_OSLO_ROWS:-200})"
if [ $short -eq 0 ]; then
    psql -qX -c "CALL public.work('public.events', 10001, 1000)" >"$D/work-d.log" 2>&1 &
    PID[work]=$!
    wait_for "the listener to get messages of the second workload" "$py" -c '
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["tables"]["public.events"]["last"] > int(sys.argv[2]) else 1)' \
        "$D/oslo.json" "$(sql "SELECT last_seq + 100 FROM tablepub.relay_stream WHERE table_name = 'events'")"
    kill -9 "${PID[relay]}"; wait "${PID[relay]}" 2>/dev/null || true
    log "(d) relay killed mid-stream"
    relay oslo2 "${oslo_flags[@]}"
    broker_stop
    log "(d) broker stopped"
    broker_start
    log "(d) broker restarted"
    wait "${PID[work]}"; unset 'PID[work]'
fi
check_mirror "$D/oslo.json" events | sed "s/^/[amqp] (d) oslo listener: /"
grep -qx "tablepub.$PGDATABASE" "$D/oslo.json.publishers" || fail "publisher_id is not tablepub.$PGDATABASE"
log "passed"
