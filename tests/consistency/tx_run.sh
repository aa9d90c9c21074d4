#!/usr/bin/env bash
# Transaction consistency test: writers keep invariants across tables
# (tx_schema.sql); a subscriber mirroring the set as one unit
# (tablepub-tail --tx) must show a state where they hold at EVERY
# transaction boundary it exposes, while the relay is killed (-9) and
# restarted and the subscriber joins mid-stream; at the end its mirror
# equals the tables.
#
#   tests/consistency/tx_run.sh SEED [BUILD]      (BUILD defaults to ./build)
#
# Fails (exit 1) on an invariant violated at an exposed boundary, a change
# that did not fit the view, a resync, a subscriber that did not catch up,
# or a mirror that differs from the tables. Stops every process it started
# on every exit path.
set -euo pipefail
seed=${1:?usage: tx_run.sh SEED [BUILD]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
tail_bin=$build/bin/tablepub-tail
py=/usr/bin/python3
[ -x "$py" ] || py=python3
WORK_SECONDS=${TX_CONSISTENCY_SECONDS:-12}
WRITERS=${TX_CONSISTENCY_WRITERS:-3}
SET=public.checking,public.savings,public.parent,public.child
start=$(date +%s)
RANDOM=$seed

D=$(mktemp -d /tmp/tablepub-txconsistency.XXXX)
chmod 755 "$D"  # pgtmp runs postgres as its own user
PGD=$D/pg
RELAY= TAIL= WORK=
. "$root/tests/lib/procs.sh"
cleanup() {
    local rc=$?
    stop_pid "$WORK"; stop_pid "$TAIL"; stop_pid "$RELAY"
    "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    if [ $rc -ne 0 ]; then
        echo "tx consistency seed $seed: FAILED (logs kept in $D)" >&2
        for f in relay.log tail.err; do [ -f "$D/$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$D/$f" >&2; }; done
    else
        rm -rf "$D"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/tests/lib/pgtmp" start "$PGD" --owner $$ -c deadlock_timeout=50ms >/dev/null
. "$PGD/env"
psql -qX -v ON_ERROR_STOP=1 -f "$here/tx_schema.sql" >/dev/null
. "$root/tests/lib/relay_role.sh"
create_relay_role

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(free_port); S=$(free_port)
PUB=tcp://127.0.0.1:$P SNAP=tcp://127.0.0.1:$S

start_relay() {
    "$relay_bin" --db "dbname=$PGDATABASE user=$RELAY_ROLE" --publish "$PUB" --snapshot "$SNAP" \
        --heartbeat-interval 500 --poll-interval 200 --start-delay 200 2>>"$D/relay.log" &
    RELAY=$!
}
kill_relay() { kill -9 "$RELAY" 2>/dev/null || true; wait "$RELAY" 2>/dev/null || true; RELAY=; }

start_relay
"$py" "$here/tx_workload.py" "$seed" "$WORK_SECONDS" "$WRITERS" >"$D/workload.out" &
WORK=$!

# Relay kills at random moments; the subscriber joins after the first one.
kills=0
t0=$(date +%s)
next_kill=$((2 + RANDOM % 2))
joined=0
while kill -0 "$WORK" 2>/dev/null; do
    sleep 0.5
    now=$(( $(date +%s) - t0 ))
    if [ $joined = 0 ] && [ $now -ge 4 ]; then
        "$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 1500 \
            --table "$SET" --tx --snapshot --mirror "$D/mirror.jsonl" >"$D/tail.jsonl" 2>"$D/tail.err" &
        TAIL=$!
        joined=1
    fi
    if [ $now -ge $next_kill ] && [ $now -lt $((WORK_SECONDS - 2)) ]; then
        kill_relay
        kills=$((kills + 1))
        sleep "0.$((RANDOM % 8 + 1))"
        start_relay
        next_kill=$((now + 2 + RANDOM % 3))
    fi
done
wait "$WORK"; WORK=
cat "$D/workload.out"
echo "relay killed (-9) and restarted $kills times; subscriber joined at 4 s"
[ $joined = 1 ] || { echo "FAIL: the workload ended before the subscriber joined" >&2; exit 1; }

# Caught up: nothing left in the outbox beyond the relay's consumed
# snapshot, and the set live at the relay's durable seq of every table with
# no transaction pending, twice in a row.
caught_up() {
    "$py" - "$D/mirror.jsonl.status" "$1" <<'PY'
import json, subprocess, sys
try:
    st = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
if st["dumps"] < int(sys.argv[2]) or st["state"] != "live" or st["lag"] or st["buffered"]:
    sys.exit(1)
out = subprocess.run(
    ["psql", "-qXAt", "-c",
     "SELECT schema_name || '.' || table_name, last_seq FROM tablepub.relay_stream"
     " UNION ALL SELECT 'pending', count(*) FROM tablepub.outbox"
     " WHERE NOT pg_visible_in_snapshot(txid, (SELECT consumed FROM tablepub.relay_state))"],
    capture_output=True, text=True, check=True).stdout
relay = dict(line.split("|") for line in out.split())
if relay.pop("pending") != "0":
    sys.exit(1)
for t in st["tables"]:
    if str(t["last_seq"]) != relay.get(t["table"]):
        sys.exit(1)
PY
}
dumps=0
caught=0
for i in $(seq 1 80); do
    dumps=$((dumps + 1))
    kill -USR1 "$TAIL"
    for j in $(seq 1 20); do
        "$py" -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["dumps"] < int(sys.argv[2]))' \
            "$D/mirror.jsonl.status" "$dumps" 2>/dev/null && break
        sleep 0.1
    done
    if caught_up "$dumps"; then caught=$((caught + 1)); else caught=0; fi
    [ $caught -ge 2 ] && break
    sleep 0.25
done
if [ $caught -lt 2 ]; then
    echo "FAIL: the subscriber did not catch up with the relay within 20 s" >&2
    cat "$D/mirror.jsonl.status" >&2
    exit 1
fi

"$py" - "$D/mirror.jsonl.status" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
s = st["stats"]
print("set: %s at position %d; transactions %d, skipped (in snapshot) %d, duplicates %d, gaps %d, replays %d, "
      "snapshots %d, resyncs %d, anomalies %d"
      % (st["state"], st["position"], s["transactions"], s["skipped_contained"], s["duplicates"], s["gaps"],
         s["replays"], s["snapshots"], s["resyncs"], s["anomalies"]))
if s["resyncs"] or s["anomalies"] or s["snapshots"] != 1:
    print("FAIL: the set had to resync or saw changes that did not fit its view")
    sys.exit(1)
PY

stop_pid "$TAIL"; TAIL=
"$py" "$here/tx_check.py" "$D/tail.jsonl"
"$py" "$here/compare.py" "$D/mirror.jsonl" --tables "$SET"
echo "tx consistency seed $seed: ok in $(( $(date +%s) - start )) s"
