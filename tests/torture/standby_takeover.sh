#!/usr/bin/env bash
# Torture (c): two relays on one database (one active, one standing by);
# under the consistency workload the active one is killed (-9) in the middle
# of a batch, the standby takes over, the dead one comes back as the standby,
# and the same again the other way round. The subscribers are connected to
# both relays' endpoints from the start. Every mirror must end exact, with
# no anomaly and no resync.
#   tests/torture/standby_takeover.sh SEED [BUILD]
scenario=standby_takeover
. "$(dirname "$0")/lib.sh"

tt_pg_start
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
TABLES=(public.acct public.item public.evt)
BATCH="SELECT EXISTS (SELECT FROM pg_stat_activity WHERE usename = '$TT_RELAY_ROLE'
       AND application_name = 'tablepub-relay' AND xact_start IS NOT NULL AND query ~ '(FETCH|DECLARE) .*tablepub_batch')"

tt_relay A
tt_wait_log A "active: database backend" 1
tt_relay B
tt_wait_log B "standing by" 1
tt_raw_tail
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
"$py" "$consistency/workload.py" "$seed" 20 3 >"$D/workload.log" &
TT_PID[work]=$!

# takeover DEAD LIVE N: DEAD (active) is killed mid-batch; LIVE takes over
# (its Nth takeover); DEAD comes back and stands by.
takeover() {
    tt_signal_when "relay-$1" KILL "relay $1 inside a batch" "$BATCH"
    tt_log "active relay $1 killed (-9) mid-batch"
    { wait "${TT_PID[relay-$1]}"; } 2>/dev/null || true
    unset "TT_PID[relay-$1]"
    tt_wait_log "$2" "took over" "$3"
    tt_log "relay $2 took over"
    local standbys; standbys=$(grep -c "standing by" "$D/relay-$1.log" || true)
    tt_relay "$1"
    tt_wait_log "$1" "standing by" $((standbys + 1))
}
takeover A B 1
takeover B A 1

wait "${TT_PID[work]}"; unset 'TT_PID[work]'
cat "$D/workload.log"
tt_finish
