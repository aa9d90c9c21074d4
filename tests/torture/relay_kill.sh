#!/usr/bin/env bash
# Torture (b): the relay is killed (-9) during a snapshot, during a replay
# and in the middle of publishing a batch, while the consistency workload
# writes (tests/consistency/workload.py). Each moment is observed in
# pg_stat_activity (the relay's snapshot/replay cursor or its batch cursor);
# a subscriber is held with SIGSTOP where that keeps a stream open. Every
# mirror must end exact, with no anomaly and no resync.
#   tests/torture/relay_kill.sh SEED [BUILD]
scenario=relay_kill
. "$(dirname "$0")/lib.sh"
BULK=20000

tt_pg_start
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
tt_sql "CREATE TABLE bulk (id int PRIMARY KEY, v int, pad text);
        INSERT INTO bulk SELECT g, 0, repeat('x', 40) FROM generate_series(1, $BULK) g;
        SELECT tablepub.publish('bulk');" >/dev/null
TABLES=(public.acct public.item public.evt public.bulk)
RELAY_FLAGS=(--snapshot-chunk-rows 100 --fetch-rows 500 --send-hwm 2000)
RELAY_ROLE_SQL="usename = '$TT_RELAY_ROLE'"

# relay_busy APP CURSOR: the relay's session APP is inside a transaction
# reading CURSOR (declaring it or fetching from it).
relay_busy() {
    echo "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE $RELAY_ROLE_SQL AND application_name = '$1'
                        AND xact_start IS NOT NULL AND query ~ '(FETCH|DECLARE) .*$2')"
}
# kill_when WHAT APP CURSOR: kill -9 the relay at that moment; restart it.
kill_when() {
    tt_signal_when relay-A KILL "$1" "$(relay_busy "$2" "$3")"
    tt_log "relay killed (-9) $1"
    { wait "${TT_PID[relay-A]}"; } 2>/dev/null || true
    unset 'TT_PID[relay-A]'
    tt_relay A "${RELAY_FLAGS[@]}"
}

tt_relay A "${RELAY_FLAGS[@]}"
tt_raw_tail
"$py" "$consistency/workload.py" "$seed" 20 2 >"$D/workload.log" &
TT_PID[work]=$!

# 1. During a snapshot: the subscribers join; the relay dies while a
#    snapshot cursor is open.
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
kill_when "during a snapshot" "tablepub-relay snapshot" tablepub_snapshot
tt_wait_caught_up

# 2. During a replay: the C++ subscriber is held (SIGSTOP) while a bulk
#    update goes past the relay's --send-hwm; released, it replays the gap,
#    and the relay dies while the replay cursor is open. The update must
#    overflow everything that can hold messages for a stopped subscriber,
#    not only the 2000-message high-water mark: the kernel's socket buffers
#    on loopback can hold tens of MB (tcp_rmem max 32 MB here), and 20k
#    messages of 40-byte rows fitted in them under load, so no gap, no
#    replay. 20k rows of 3 kB are 60 MB on the wire.
kill -STOP "${TT_PID[tail-c]}"
tt_sql "UPDATE bulk SET v = v + 1, pad = repeat('y', 3000)" >/dev/null
tt_wait_sql "the bulk update published" "SELECT $ALL_PUBLISHED_SQL"
kill -CONT "${TT_PID[tail-c]}"
kill_when "during a replay" "tablepub-relay snapshot" tablepub_replay
tt_wait_caught_up

# 3. Mid-batch: the relay dies inside the batch transaction that publishes
#    a 20k-row transaction (which also shrinks the rows again, so that the
#    mirrors compared at the end stay small).
tt_sql "UPDATE bulk SET v = v + 1, pad = 'z'" >/dev/null &
TT_PID[bulk]=$!
kill_when "mid-batch" tablepub-relay tablepub_batch
wait "${TT_PID[bulk]}"; unset 'TT_PID[bulk]'

wait "${TT_PID[work]}"; unset 'TT_PID[work]'
cat "$D/workload.log"
tt_finish
