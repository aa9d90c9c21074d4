#!/usr/bin/env bash
# Consistency test: a subscriber's mirror must equal the tables after a
# random concurrent workload during which the relay is killed (-9) and
# restarted several times and the subscriber joins mid-stream.
#
#   tests/consistency/run.sh SEED [BUILD]      (BUILD defaults to ./build)
#
# Fails (exit 1) when a committed change is lost, doubled or misordered (the
# mirror differs from the tables), when the subscriber did not end live and
# caught up, when it had to resync (a gap it could not repair by replay, or
# a change that did not fit its mirror), when the unpublished table or the
# excluded column reached the bus, or when a republished sequence number
# carried other content. Stops every process it started on every exit path.
set -euo pipefail
seed=${1:?usage: run.sh SEED [BUILD]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${2:-$root/build}" && pwd)
relay_bin=$build/bin/tablepub-relay
tail_bin=$build/bin/tablepub-tail
py=/usr/bin/python3
[ -x "$py" ] || py=python3
WORK_SECONDS=${CONSISTENCY_SECONDS:-24}
WRITERS=${CONSISTENCY_WRITERS:-3}
start=$(date +%s)
RANDOM=$seed

D=$(mktemp -d /tmp/tablepub-consistency.XXXX)
chmod 755 "$D"  # pgtmp runs postgres as its own user
PGD=$D/pg
RELAY= TAIL= RAW= WORK=
. "$root/tests/lib/procs.sh"
cleanup() {
    local rc=$?
    stop_pid "$WORK"; stop_pid "$TAIL"; stop_pid "$RAW"; stop_pid "$RELAY"
    "$root/tests/lib/pgtmp" stop "$PGD" >/dev/null 2>&1 || true
    if [ $rc -ne 0 ]; then
        echo "consistency seed $seed: FAILED (logs kept in $D)" >&2
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
psql -qX -v ON_ERROR_STOP=1 -f "$here/schema.sql" >/dev/null
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

# A plain tail of every table: what actually went over the bus.
"$tail_bin" --connect "$PUB" >"$D/raw.jsonl" 2>"$D/raw.err" &
RAW=$!
start_relay
"$py" "$here/workload.py" "$seed" "$WORK_SECONDS" "$WRITERS" >"$D/workload.out" &
WORK=$!

# Relay kills at random moments; the subscriber joins after the first one.
kills=0
t0=$(date +%s)
next_kill=$((2 + RANDOM % 3))
joined=0
while kill -0 "$WORK" 2>/dev/null; do
    sleep 0.5
    now=$(( $(date +%s) - t0 ))
    if [ $joined = 0 ] && [ $now -ge 5 ]; then
        "$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 1500 \
            --table public.acct --table public.item --table public.evt \
            --snapshot --mirror "$D/mirror.jsonl" >"$D/tail.jsonl" 2>"$D/tail.err" &
        TAIL=$!
        joined=1
    fi
    if [ $now -ge $next_kill ] && [ $now -lt $((WORK_SECONDS - 2)) ]; then
        kill_relay
        kills=$((kills + 1))
        sleep "0.$((RANDOM % 8 + 1))"
        start_relay
        next_kill=$((now + 3 + RANDOM % 3))
    fi
done
wait "$WORK"; WORK=
cat "$D/workload.out"
echo "relay killed (-9) and restarted $kills times; subscriber joined at 5 s"
[ $joined = 1 ] || { echo "FAIL: the workload ended before the subscriber joined" >&2; exit 1; }

# Caught up: the relay has published every committed change (nothing in the
# outbox beyond its consumed snapshot), and the subscriber is live at the
# relay's durable sequence number of every table, twice in a row.
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
    if "$py" "$here/caught_up.py" "$D/mirror.jsonl.status" "$dumps"; then caught=$((caught + 1)); else caught=0; fi
    [ $caught -ge 2 ] && break
    sleep 0.25
done
if [ $caught -lt 2 ]; then
    echo "FAIL: the subscriber did not catch up with the relay within 20 s" >&2
    cat "$D/mirror.jsonl.status" >&2
    exit 1
fi

# The subscriber's own account: live, nothing it had to resync for.
"$py" - "$D/mirror.jsonl.status" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
bad = False
for t in st["tables"]:
    s = t["stats"]
    print("%s: %s seq %d rows %d; applied %d, skipped (in snapshot) %d, duplicates %d, gaps %d, replays %d, "
          "snapshots %d, resyncs %d, anomalies %d"
          % (t["table"], t["state"], t["last_seq"], t["rows"], s["applied"], s["skipped_visible"],
             s["duplicates"], s["gaps"], s["replays"], s["snapshots"], s["resyncs"], s["anomalies"]))
    if t["state"] != "live" or t["stale"]:
        print("FAIL: %s ended %s%s" % (t["table"], t["state"], " (stale)" if t["stale"] else ""))
        bad = True
    if s["resyncs"] or s["anomalies"] or s["dropped"] or s["snapshots"] != 1:
        print("FAIL: %s had to resync or saw changes that did not fit its mirror" % t["table"])
        bad = True
sys.exit(1 if bad else 0)
PY
grep -q -- '-> resyncing' "$D/tail.err" && { echo "FAIL: the subscriber resynced:" >&2; grep -- '-> resyncing' "$D/tail.err" >&2; exit 1; }

# The tail writes its mirror and status once more as it exits.
stop_pid "$TAIL"; TAIL=
stop_pid "$RAW"; RAW=
"$py" "$here/compare.py" "$D/mirror.jsonl" --tables public.acct,public.item,public.evt \
    --raw "$D/raw.jsonl" --delivered "$D/tail.jsonl"
echo "consistency seed $seed: ok in $(( $(date +%s) - start )) s"
