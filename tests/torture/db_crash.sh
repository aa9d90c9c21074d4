#!/usr/bin/env bash
# Torture (d): the database crashes (pg_ctl restart -m immediate) twice
# under the consistency workload plus a serial writer, with
# synchronous_commit = off cluster-wide. Whatever the relay published must
# still be in the table afterwards: the C++ and Python mirrors must end equal
# to the restarted tables, with no anomaly and no resync.
#
# Each crash round holds the WAL writer (tt_hold_walwriter; wal_buffers =
# 64MB, no bgwriter page writes, no autovacuum, no checkpoint), so the only
# WAL flushes are the relay's own synchronous batch commits: a relay that
# published before its commit flushed would lose published changes in every
# round. Before the first crash the relay's drain is also held (a lock on
# tablepub.relay_batch) while the writers go on, and the run asserts that
# the crash lost transactions the serial writer saw committed: the crash
# really hit unflushed commits. The second crash comes with the drain
# running, mid-batch. (tests/durability/crash_restart.sh crashes more often,
# with pgbench and the C++ subscriber only.)
#   tests/torture/db_crash.sh SEED [BUILD]
scenario=db_crash
. "$(dirname "$0")/lib.sh"

tt_pg_start -c synchronous_commit=off -c wal_buffers=64MB -c bgwriter_lru_maxpages=0 -c autovacuum=off \
    -c checkpoint_timeout=1h -c max_wal_size=4GB
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_sql "CREATE TABLE sc (id bigserial PRIMARY KEY, v int NOT NULL);
        INSERT INTO sc (v) SELECT g FROM generate_series(1, 100) g" >/dev/null
tt_db_init postgres
tt_sql "SELECT tablepub.publish('sc')" >/dev/null
TABLES=(public.acct public.item public.evt public.sc)
published() { tt_sql "SELECT coalesce(sum(last_seq), 0) FROM tablepub.relay_stream"; }

tt_relay A
tt_raw_tail
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
tt_wait_caught_up
for round in 1 2 3; do
    # The writers' sessions die with the crash; each round starts anew.
    "$py" "$consistency/workload.py" $((seed * 10 + round)) 8 3 >"$D/workload-$round.log" 2>&1 &
    TT_PID[work]=$!
    "$py" "$tt_here/serial_writer.py" sc "$D/ids-$round" $((seed * 10 + round)) 2>>"$D/writer.err" &
    TT_PID[writer]=$!
    if [ $round -lt 3 ]; then
        tt_hold_walwriter
        from=$(published)
        tt_wait_sql "2000 messages published in round $round" \
            "SELECT coalesce(sum(last_seq), 0) >= $from + 2000 FROM tablepub.relay_stream"
        if [ $round = 1 ]; then
            tt_hold_drain
            n=$(tt_sql "SELECT count(*) FROM sc")
            tt_wait_sql "100 more commits while the drain waits" "SELECT count(*) >= $n + 100 FROM sc"
        fi
        tt_crash_db
        # One session commits in WAL order: the crash lost a suffix of its ids.
        kept=$(tt_sql "SELECT max(id) FROM sc")
        lost=$(awk -v m="$kept" '$1 > m' "$D/ids-$round" | wc -l)
        tt_log "database crashed and restarted under load (round $round): lost $lost of $(wc -l <"$D/ids-$round") commits of the serial writer"
        [ $round != 1 ] || [ "$lost" -gt 0 ] || tt_fail "the crash lost no committed transaction: the WAL was flushed anyway"
    fi
    { wait "${TT_PID[work]}"; } 2>/dev/null || true
    unset 'TT_PID[work]'
    tt_stop writer
done
tt_finish
