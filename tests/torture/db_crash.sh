#!/usr/bin/env bash
# Torture (d): the database crashes (pg_ctl restart -m immediate) twice
# under the consistency workload, with synchronous_commit = off cluster-wide
# and a slow WAL writer, so each crash loses the last committed
# transactions. Whatever the relay published must still be in the table
# afterwards: the C++ and Python mirrors must end equal to the restarted
# tables, with no anomaly and no resync. (tests/durability/crash_restart.sh
# crashes more often, with pgbench and the C++ subscriber only.)
#   tests/torture/db_crash.sh SEED [BUILD]
scenario=db_crash
. "$(dirname "$0")/lib.sh"

tt_pg_start -c synchronous_commit=off -c wal_writer_delay=1s
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
TABLES=(public.acct public.item public.evt)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
published() { tt_sql "SELECT coalesce(sum(last_seq), 0) FROM tablepub.relay_stream"; }

tt_relay A
tt_raw_tail
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
tt_wait_caught_up
for round in 1 2 3; do
    # The workload's sessions die with the crash; each round starts anew.
    "$py" "$consistency/workload.py" $((seed * 10 + round)) 8 3 >"$D/workload-$round.log" 2>&1 &
    TT_PID[work]=$!
    if [ $round -lt 3 ]; then
        from=$(published)
        tt_wait_sql "2000 messages published in round $round" \
            "SELECT coalesce(sum(last_seq), 0) >= $from + 2000 FROM tablepub.relay_stream"
        as_pg "$PGTMP_BIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -m immediate -w -t 60 restart >/dev/null
        tt_log "database crashed and restarted under load (round $round)"
    fi
    { wait "${TT_PID[work]}"; } 2>/dev/null || true
    unset 'TT_PID[work]'
done
tt_finish
