#!/usr/bin/env bash
# Torture (f): the subscribers (C++ and Python) are paused with SIGSTOP
# while the consistency workload writes, until the relay has published far
# more than its --send-hwm (1000 messages) since the pause, so ZeroMQ drops
# what they cannot take. Resumed (SIGCONT), they must notice the gap, replay
# it and end exact: no anomaly, no resync. Twice.
#   tests/torture/subscriber_pause.sh SEED [BUILD]
scenario=subscriber_pause
. "$(dirname "$0")/lib.sh"
HWM=1000

tt_pg_start
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
TABLES=(public.acct public.item public.evt)

tt_relay A --send-hwm $HWM
tt_raw_tail
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
tt_wait_caught_up
"$py" "$consistency/workload.py" "$seed" 20 3 >"$D/workload.log" &
TT_PID[work]=$!

published() { tt_sql "SELECT coalesce(sum(last_seq), 0) FROM tablepub.relay_stream"; }
for round in 1 2; do
    kill -STOP "${TT_PID[tail-c]}" "${TT_PID[py-p]}"
    from=$(published)
    tt_wait_sql "$((5 * HWM)) messages published past the paused subscribers" \
        "SELECT coalesce(sum(last_seq), 0) >= $from + $((5 * HWM)) FROM tablepub.relay_stream"
    kill -CONT "${TT_PID[tail-c]}" "${TT_PID[py-p]}"
    tt_log "round $round: subscribers paused from seq sum $from to $(published)"
done

wait "${TT_PID[work]}"; unset 'TT_PID[work]'
cat "$D/workload.log"
tt_finish
