#!/usr/bin/env bash
# Torture (e): the relay is away for longer than a subscriber's patience
# while writes go on, twice: frozen (SIGSTOP: its sockets stay open, requests
# go unanswered) and dead (kill -9, restarted later). The subscribers' request
# timeout is 500 ms, so each outage (4 s) outlasts several timeouts and
# heartbeat intervals. They must catch up by replay alone: no resync.
#   tests/torture/relay_outage.sh SEED [BUILD]
scenario=relay_outage
. "$(dirname "$0")/lib.sh"

tt_pg_start
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
TABLES=(public.acct public.item public.evt)

tt_relay A
tt_raw_tail
TT_TAIL_TIMEOUT=500 tt_tail c "${TABLES[@]}"
TT_PY_TIMEOUT=0.5 tt_py p "${TABLES[@]}"
tt_wait_caught_up
"$py" "$consistency/workload.py" "$seed" 16 3 >"$D/workload.log" &
TT_PID[work]=$!

tt_log "relay frozen (SIGSTOP) for 4 s"
kill -STOP "${TT_PID[relay-A]}"
sleep 4   # the fault's duration, not a synchronization
kill -CONT "${TT_PID[relay-A]}"
tt_wait_sql "writes after the freeze" "SELECT count(*) > 0 FROM tablepub.outbox WHERE NOT pg_visible_in_snapshot(txid, (SELECT consumed FROM tablepub.relay_state))"

tt_log "relay killed (-9), away for 4 s"
tt_kill relay-A
sleep 4   # the fault's duration
tt_relay A
wait "${TT_PID[work]}"; unset 'TT_PID[work]'
cat "$D/workload.log"
tt_finish
