#!/usr/bin/env bash
# make demo: the whole story on a throwaway cluster, unattended, in about a
# minute. A real Nova database (Debian's python3-nova: Nova's own
# migrations, its own database code as the workload, tests/nova) with the
# tables a policy engine wants published (tests/nova/publish.sql:
# instances without user_data, ...) and the rest not; the relay; a
# subscriber (tablepub-tail --snapshot --mirror) joining mid-stream, riding
# out a relay crash, and at the end a row-by-row check that its mirror
# equals the tables.
#
#   tests/demo/run.sh [BUILD]     (BUILD/bin/tablepub-relay, -tail; default ./build)
#
# Without python3-nova (or with DEMO_SCHEMA=small) it falls back to a small
# Nova-like schema of our own (sql/demo_nova.sql, tests/demo/nova_workload.py).
# The extension must be installed (make demo does it). DEMO_SECONDS sets the
# workload's length (default 20). DEMO_OSLO=1 (make demo DEMO_OSLO=1) also
# shows the OpenStack path: a RabbitMQ broker, the relay with --amqp
# --amqp-format oslo, and an unmodified oslo.messaging notification
# listener receiving every change (tests/amqp/oslo_listener.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
tail_bin=$build/bin/tablepub-tail
py=/usr/bin/python3
[ -x "$py" ] || py=python3
SECONDS_OF_WORK=${DEMO_SECONDS:-20}
SHOW_LINES=12
SCHEMA=${DEMO_SCHEMA:-nova}
if [ "$SCHEMA" = nova ] && ! "$py" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("nova") and u.find_spec("psycopg2")))'; then
    echo "demo: python3-nova or python3-psycopg2 is not installed (make deps); using the small schema" >&2
    SCHEMA=small
fi
if [ "$SCHEMA" = nova ]; then
    TABLES=$(sed -n "s/^SELECT tablepub.publish('\([a-z_.]*\)'.*/\1/p" "$root/tests/nova/publish.sql" | paste -sd,)
else
    TABLES=public.flavors,public.users,public.instances,public.instance_metadata
fi
for b in "$relay_bin" "$tail_bin"; do [ -x "$b" ] || { echo "demo: $b not built (make relay)" >&2; exit 1; }; done

D=$(mktemp -d /tmp/tablepub-demo.XXXX)
chmod 755 "$D"  # pgtmp runs postgres as its own user
PGD=$D/pg
RELAY= TAIL= RAW= WORK= NOVA_PID= OSLO= TX_TAIL=
AMQP_FLAGS=()
. "$root/tests/lib/procs.sh"
. "$root/tests/amqp/broker.sh"
BROKER_PID="" BROKER_EPMD_PID=""
cleanup() {
    local rc=$?
    stop_pid "$WORK"; stop_pid "$NOVA_PID"; stop_pid "$TX_TAIL"; stop_pid "$TAIL"; stop_pid "$RAW"; stop_pid "$RELAY"; stop_pid "$OSLO"
    broker_cleanup
    "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    if [ $rc -ne 0 ]; then
        echo "demo FAILED (logs kept in $D)" >&2
        for f in relay.log tail.err nova.log; do [ -s "$D/$f" ] && { echo "--- last lines of $f" >&2; tail -n 10 "$D/$f" >&2; }; done
    else
        rm -rf "$D"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

t0=$(date +%s)
say() { printf '[%3ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }

if [ "$SCHEMA" = nova ]; then
    # Nova imports (seconds) while the cluster starts; tests/nova/nova_driver.py.
    coproc NOVA { exec "$py" "$root/tests/nova/nova_driver.py" 2>"$D/nova.log"; }
    NOVA_PID=$!
fi
say "starting a throwaway PostgreSQL cluster"
"$root/tests/lib/pgtmp" start "$PGD" --owner $$ >/dev/null
. "$PGD/env"
. "$root/tests/lib/relay_role.sh"

# nova_cmd CMD...: a command to Nova (tests/nova/nova_driver.py); prints its
# answer. nova_reply: reads one answer.
nova_reply() {
    local reply
    IFS= read -r -t 300 reply <&"${NOVA[0]}" || { echo "demo: Nova did not answer '$*' (see nova.log)" >&2; exit 1; }
    case $reply in ok*) echo "${reply#ok }" ;; *) echo "demo: Nova: $*: $reply" >&2; exit 1 ;; esac
}
nova_cmd() { echo "$*" >&"${NOVA[1]}"; nova_reply "$@"; }
if [ "$SCHEMA" = nova ]; then
    # Nova's own login owns its database; tablepub is added by a superuser.
    psql -qX -v ON_ERROR_STOP=1 -c "CREATE ROLE nova LOGIN" -c "CREATE DATABASE nova OWNER nova" >/dev/null
    export PGDATABASE=nova
    nova_reply import >/dev/null
    nova_cmd connect "postgresql+psycopg2://nova@/nova?host=$PGHOST&port=$PGPORT" >/dev/null
    say "Nova (python3-nova $(dpkg-query -W -f='${Version}' python3-nova 2>/dev/null)) imported; its migrations create database nova: $(nova_cmd sync head)"
    psql -qX -v ON_ERROR_STOP=1 -c "CREATE EXTENSION tablepub" >/dev/null
    create_relay_role
    psql -qX -v ON_ERROR_STOP=1 -f "$root/tests/nova/publish.sql" >/dev/null
    say "$(psql -qXAt -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") tables; published (tests/nova/publish.sql):"
    psql -qXAt -c "SELECT '         ' || \"table\" || ' (' || cardinality(columns) || ' columns)' FROM tablepub.publications ORDER BY 1"
    say "not published: instances.user_data, block_device_mapping.connection_info, console_auth_tokens, instance_info_caches, shadow_*, ..."
    say "Nova's services and compute nodes: $(nova_cmd setup)"
else
    psql -qX -v ON_ERROR_STOP=1 -c "CREATE EXTENSION tablepub" >/dev/null
    create_relay_role
    psql -qX -v ON_ERROR_STOP=1 -f "$root/sql/demo_nova.sql" >/dev/null
    say "schema sql/demo_nova.sql loaded; published:"
    psql -qXAt -F ' ' -c "SELECT '         ' || \"table\", array_to_string(columns, ', ') FROM tablepub.publications ORDER BY 1"
    say "not published: quota_usages, and users.password_hash"
fi

if [ "${DEMO_OSLO:-0}" = 1 ]; then
    say "DEMO_OSLO=1: starting a throwaway RabbitMQ broker (rabbitmq-server; Erlang takes a few seconds)"
    broker_init "$D/broker"
    broker_start >"$D/broker.log" 2>&1 || { cat "$D/broker.log" >&2; exit 1; }
    AMQP_FLAGS=(--amqp "$BROKER_URL" --amqp-format oslo)
    PYTHONPATH="$root/tests/amqp" "$py" "$root/tests/amqp/oslo_listener.py" \
        "rabbit://guest:guest@127.0.0.1:$BROKER_PORT/" openstack notifications "$D/oslo.json" >"$D/oslo.log" 2>&1 &
    OSLO=$!
    say "an unmodified oslo.messaging notification listener on $BROKER_URL (exchange openstack, topic notifications)"
fi

. "$root/tests/lib/free_port.sh"
PUB=tcp://127.0.0.1:$(free_port) SNAP=tcp://127.0.0.1:$(free_port)
start_relay() {
    "$relay_bin" --db "dbname=$PGDATABASE user=$RELAY_ROLE" --publish "$PUB" --snapshot "$SNAP" \
        --heartbeat-interval 1000 --start-delay 200 "${AMQP_FLAGS[@]+"${AMQP_FLAGS[@]}"}" 2>>"$D/relay.log" &
    RELAY=$!
}
"$tail_bin" --connect "$PUB" >"$D/raw.jsonl" 2>"$D/raw.err" &  # every message on the bus
RAW=$!
start_relay
say "relay started: publishing on $PUB, snapshots on $SNAP"

if [ "$SCHEMA" = nova ]; then
    say "Nova's database API at work: $(nova_cmd start 42 "$SECONDS_OF_WORK" 2 15); boots, state changes, resizes, metadata, volumes, deletes"
    # The loop below runs while this waits for Nova's writers to finish.
    sleep "$SECONDS_OF_WORK" & WORK=$!
else
    "$py" "$here/nova_workload.py" "$SECONDS_OF_WORK" 40 >"$D/workload.out" &
    WORK=$!
    say "workload running for ${SECONDS_OF_WORK}s: boots, state changes, resizes, deletes, password and quota updates"
fi

. "$root/tests/lib/mirror_end.sh"
# refresh_status: asks the subscriber to write its mirror and status and
# waits up to 3 s for it (the demo shows what it has, it does not fail).
refresh_status() { mirror_dump_within 30; }
status_line() {
    local db sub=""
    db=$(psql -qXAt -F ' ' -c "SELECT (SELECT count(*) FROM instances),
           (SELECT last_seq FROM tablepub.relay_stream WHERE table_name = 'instances'),
           (SELECT sum(last_seq) FROM tablepub.relay_stream)" \
         | awk '{ print $1 " instances | relay seq: instances " $2 ", all tables " $3 }')
    if [ -n "$TAIL" ] && refresh_status; then
        sub=$("$py" -c 'import json,sys
st = json.load(open(sys.argv[1]))
i = [t for t in st["tables"] if t["table"] == "public.instances"][0]
live = sum(t["state"] == "live" for t in st["tables"])
print(" | subscriber: instances %s seq %d (%d rows), %d of %d tables live" % (i["state"], i["last_seq"], i["rows"], live, len(st["tables"])))' "$D/mirror.jsonl.status")
    fi
    say "db: $db$sub"
}

joined=0 shown=0 crashed=0 w0=$(( $(date +%s) - t0 ))
while kill -0 "$WORK" 2>/dev/null; do
    sleep 1
    now=$(( $(date +%s) - t0 ))
    if [ $joined = 0 ] && [ $now -ge $((w0 + 6)) ]; then
        say "a subscriber joins mid-stream: tablepub-tail --snapshot --mirror --table ${TABLES//,/ --table }"
        "$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 2000 \
            $(printf -- '--table %s ' ${TABLES//,/ }) --snapshot --mirror "$D/mirror.jsonl" \
            >"$D/tail.jsonl" 2>"$D/tail.err" &
        TAIL=$!
        joined=$now
    fi
    if [ $joined != 0 ] && [ $shown = 0 ] && [ $now -ge $((joined + 3)) ]; then
        say "what it printed so far: snapshot rows first, then live deltas (first $SHOW_LINES lines, cut at 150 columns):"
        head -n 3 "$D/tail.jsonl" | cut -c1-150 | sed 's/^/         /'
        echo "         ... $(grep -c '"op":"snapshot"' "$D/tail.jsonl") snapshot rows in all; then the deltas, of public.instances here:"
        grep -v '"op":"snapshot' "$D/tail.jsonl" | grep '"table":"public.instances"' | awk -v n=$((SHOW_LINES - 3)) 'NR <= n' \
            | cut -c1-150 | sed 's/^/         /'
        shown=1
    fi
    if [ $crashed = 0 ] && [ $joined != 0 ] && [ $now -ge $((joined + 5)) ]; then
        kill -9 "$RELAY"; wait "$RELAY" 2>/dev/null || true
        say "relay killed with SIGKILL; restarting it (it republishes from its durable point)"
        sleep 0.5
        start_relay
        crashed=1
    fi
    [ $((now % 4)) = 0 ] && status_line
done
wait "$WORK"; WORK=
if [ "$SCHEMA" = nova ]; then
    say "Nova's writers done: $(nova_cmd wait)"
else
    say "workload done: $(cat "$D/workload.out") transactions"
fi

# Whole transactions across tables (issue 11): a second subscriber follows
# instances and instance_metadata as one unit and prints one JSON object
# per transaction; a boot writes both tables in one transaction.
say "whole transactions across tables: tablepub-tail --tx --table public.instances,public.instance_metadata"
"$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 2000 \
    --table public.instances,public.instance_metadata --tx >"$D/tx.jsonl" 2>"$D/tx.err" &
TX_TAIL=$!
for i in $(seq 1 100); do grep -q -- '-> live' "$D/tx.err" && break; sleep 0.1; done
grep -q -- '-> live' "$D/tx.err" || { echo "demo: tablepub-tail --tx did not go live" >&2; cat "$D/tx.err" >&2; stop_pid "$TX_TAIL"; exit 1; }
if [ "$SCHEMA" = nova ]; then
    nova_cmd start 7 1 1 4 >/dev/null
    say "Nova boots an instance with its metadata (nova.db.main.api.instance_create, one transaction): $(nova_cmd wait)"
    nova_cmd quit >/dev/null
    wait "$NOVA_PID" 2>/dev/null || true; NOVA_PID=
else
    psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
BEGIN;
INSERT INTO instances (uuid, hostname, user_id, flavor_id, vm_state, task_state, memory_mb)
VALUES (md5('vm-tx')::uuid, 'vm-tx', md5('user1')::uuid, 2, 'building', 'scheduling', 2048);
INSERT INTO instance_metadata VALUES (md5('vm-tx')::uuid, 'role', 'db'), (md5('vm-tx')::uuid, 'owner', 'team-tx');
COMMIT;
SQL
    say "booted vm-tx: one transaction inserting into instances and instance_metadata"
fi
"$py" - "$D/tx.jsonl" <<'PY' || { stop_pid "$TX_TAIL"; echo "demo: no transaction touching both tables arrived" >&2; exit 1; }
import json, sys, time
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    for line in open(sys.argv[1]):
        tx = json.loads(line)
        if {c["table"] for c in tx["changes"]} >= {"public.instances", "public.instance_metadata"}:
            print("         tablepub-tail --tx printed (one line; shown folded, each change cut at 150 characters):")
            print('         {"commit_time":"%s","position":%d,"txid":%d,"changes":[' % (tx["commit_time"], tx["position"], tx["txid"]))
            for c in tx["changes"]:
                c = {k: v for k, v in c.items() if k in ("table", "op", "seq", "key", "values")}
                print("           " + json.dumps(c, separators=(",", ":"), sort_keys=True)[:150])
            print("         ]}")
            sys.exit(0)
    time.sleep(0.2)
sys.exit(1)
PY
stop_pid "$TX_TAIL"; TX_TAIL=

caught=0
for i in $(seq 1 60); do
    if refresh_status && "$py" "$root/tests/consistency/caught_up.py" "$D/mirror.jsonl.status" "$MIRROR_DUMPS"; then
        caught=$((caught + 1))
    else
        caught=0
    fi
    [ $caught -ge 2 ] && break
    sleep 0.25
done
[ $caught -ge 2 ] || { echo "demo: the subscriber did not catch up with the relay" >&2; cat "$D/mirror.jsonl.status" >&2; exit 1; }
status_line
stop_pid "$TAIL"; TAIL=
stop_pid "$RAW"; RAW=
"$py" - "$D/tail.jsonl" "$D/mirror.jsonl.status" <<'PY'
import collections, json, sys
ops = collections.Counter(json.loads(l)["op"] for l in open(sys.argv[1]) if l.strip())
st = json.load(open(sys.argv[2]))
print("         subscriber printed %d lines: %s" % (sum(ops.values()), ", ".join("%s %d" % kv for kv in sorted(ops.items()))))
for t in st["tables"]:
    s = t["stats"]
    print("         %s: %s at seq %d, %d rows; %d deltas applied, %d duplicates dropped, %d gaps repaired by replay, %d resyncs"
          % (t["table"], t["state"], t["last_seq"], t["rows"], s["applied"], s["duplicates"], s["gaps"], s["resyncs"]))
PY
say "comparing the subscriber's mirror with the tables, row by row (and checking the bus carried no unpublished data)"
"$py" "$root/tests/consistency/compare.py" "$D/mirror.jsonl" --tables "$TABLES" --raw "$D/raw.jsonl" | sed 's/^/         /'
if [ -n "$OSLO" ]; then
    say "the oslo.messaging listener (its endpoint's info() gets one notification per change):"
    caught=0
    for i in $(seq 1 240); do
        "$py" - "$D/oslo.json" "$(psql -qXAt -c "SELECT string_agg(schema_name || '.' || table_name || '=' || last_seq, ' ') FROM tablepub.relay_stream")" <<'PY' && { caught=1; break; }
import json, sys
tables = json.load(open(sys.argv[1]))["tables"]
want = dict(kv.split("=") for kv in sys.argv[2].split())
sys.exit(0 if all(tables.get(t, {}).get("last") == int(s) for t, s in want.items()) else 1)
PY
        sleep 0.25
    done
    [ $caught = 1 ] || { echo "demo: the oslo.messaging listener did not receive every change" >&2; exit 1; }
    "$py" - "$D/oslo.json" "$D/oslo.json.publishers" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
pubs = open(sys.argv[2]).read().split()
print("         %d notifications from publisher_id %s, event_type tablepub.<schema>.<table>.<op>" % (st["messages"], ", ".join(pubs)))
# The listener has no snapshot (rows loaded before publishing are not in
# the stream), so only missing sequence numbers count here.
for name, t in sorted(st["tables"].items()):
    gaps = [g for g in t["gaps"] if isinstance(g[0], int)]
    print("         %s: every seq up to %d, %d duplicates dropped%s"
          % (name, t["last"], t["dups"], ", MISSING %s" % gaps if gaps else ""))
    if gaps:
        sys.exit(1)
PY
fi
say "demo done; everything stopped"
