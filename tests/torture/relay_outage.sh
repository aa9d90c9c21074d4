#!/usr/bin/env bash
# Torture (e): the relay is away for longer than a subscriber's patience
# while writes go on, twice: frozen (SIGSTOP: its sockets stay open, requests
# go unanswered) for 4 s, longer than the subscribers' 500 ms request timeout
# and several heartbeat intervals; and dead (kill -9) while another relay,
# B, publishes in its place on endpoints no subscriber listens to (only the
# raw tail does) until every table moved on by at least 20 messages. When
# relay A comes back, each subscriber has missed those messages for sure:
# it must see the gap (a later seq or a heartbeat ahead of it) and catch up
# by replay alone. The run asserts that every table of every subscriber
# replayed at least once and none resynced.
#   tests/torture/relay_outage.sh SEED [BUILD]
scenario=relay_outage
. "$(dirname "$0")/lib.sh"

tt_pg_start
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
TABLES=(public.acct public.item public.evt)

tt_relay A
TT_TAIL_TIMEOUT=500 tt_tail c "${TABLES[@]}"
TT_PY_TIMEOUT=0.5 tt_py p "${TABLES[@]}"
tt_endpoints B  # after the subscribers: only the raw tail listens to relay B
tt_raw_tail
tt_wait_caught_up
"$py" "$consistency/workload.py" "$seed" 16 3 >"$D/workload.log" &
TT_PID[work]=$!

tt_log "relay frozen (SIGSTOP) for 4 s"
kill -STOP "${TT_PID[relay-A]}"
sleep 4   # the fault's duration, not a synchronization
kill -CONT "${TT_PID[relay-A]}"
tt_wait_sql "writes after the freeze" "SELECT NOT $ALL_PUBLISHED_SQL"

tt_log "relay A killed (-9); relay B publishes where no subscriber listens"
tt_kill relay-A
# What A may have put on the bus: its durable seqs plus every change it
# could have been publishing in a batch not yet marked done (each change of
# an outbox row not in the consumed snapshot is at most one message; a
# packed row holds several). B must go past that, or the subscribers see
# A's in-flight messages again instead of a gap.
marks=$(tt_sql "SELECT string_agg(format('(%s, %s)', s.relid::int, s.last_seq + coalesce(p.n, 0)), ', ')
                  FROM tablepub.relay_stream s
                  LEFT JOIN (SELECT o.relid, count(*) AS n
                               FROM tablepub.outbox o CROSS JOIN LATERAL tablepub.decode_changes(o.change),
                                    tablepub.relay_state st
                              WHERE NOT pg_visible_in_snapshot(o.txid, st.consumed) GROUP BY o.relid) p
                    ON p.relid = s.relid")
tt_relay B
tt_wait_sql "relay B to publish 20 messages of every table" \
    "SELECT bool_and(s.last_seq >= m.seq + 20) FROM tablepub.relay_stream s
       JOIN (VALUES $marks) m(relid, seq) ON s.relid = m.relid::oid"
tt_kill relay-B
tt_log "relay B killed; relay A back"
tt_relay A
wait "${TT_PID[work]}"; unset 'TT_PID[work]'
cat "$D/workload.log"
tt_finish
for n in c p; do
    "$py" - "$D/mirror-$n.jsonl.status" "$n" <<'PY' || tt_fail "subscriber $n did not catch up by replay"
import json, sys
st = json.load(open(sys.argv[1]))
for t in st["tables"]:
    s = t["stats"]
    print("  %s %s: gaps %d, replays %d, resyncs %d" % (sys.argv[2], t["table"], s["gaps"], s["replays"], s["resyncs"]))
sys.exit(0 if all(t["stats"]["replays"] > 0 and t["stats"]["resyncs"] == 0 for t in st["tables"]) else 1)
PY
done
