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
RUN_BUILD=${2:-}
WORK_SECONDS=${TX_CONSISTENCY_SECONDS:-12}
WRITERS=${TX_CONSISTENCY_WRITERS:-3}
SET=public.checking,public.savings,public.parent,public.child
start=$(date +%s)
RANDOM=$seed

RUN_NAME="tx consistency seed $seed"
. "$root/tests/lib/relay_run.sh"
. "$root/tests/lib/mirror_end.sh"
run_start txconsistency -c deadlock_timeout=50ms
psql -qX -v ON_ERROR_STOP=1 -f "$here/tx_schema.sql" >/dev/null
relay_setup

start_relay
"$py" "$here/tx_workload.py" "$seed" "$WORK_SECONDS" "$WRITERS" >"$D/workload.out" &
WORK=$!

# Relay kills at random moments; the subscriber joins after the first one.
join_subscriber() {
    "$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 1500 \
        --table "$SET" --tx --snapshot --mirror "$D/mirror.jsonl" >"$D/tail.jsonl" 2>"$D/tail.err" &
    TAIL=$!
}
kill_relay_during_work 4 2 2 2 3

# Caught up: the set live at the relay's durable seq of every table with
# no transaction pending, and nothing left to publish.
wait_caught_up

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
