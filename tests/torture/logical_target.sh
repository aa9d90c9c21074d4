#!/usr/bin/env bash
# Torture (g): the published tables are the target of PostgreSQL logical
# replication. The consistency workload writes into database `src`; a
# subscription in the published database applies it (rows written by the
# apply worker, session_replication_role = replica, TRUNCATE included). Every
# applied change must be captured: once the target equals the source, the
# mirrors must equal the target, with no anomaly and no resync.
#   tests/torture/logical_target.sh SEED [BUILD]
scenario=logical_target
. "$(dirname "$0")/lib.sh"

tt_pg_start -c wal_level=logical
TABLES=(public.acct public.item public.evt)
# The same tables and initial rows on both sides (schema.sql is
# deterministic), so the subscription starts without copying data.
createdb src
psql -qX -v ON_ERROR_STOP=1 -d src -f "$consistency/schema.sql" >/dev/null
psql -qXAt -v ON_ERROR_STOP=1 -d src -c "CREATE PUBLICATION tt_pub FOR TABLE acct, item, evt" >/dev/null
psql -qXAt -v ON_ERROR_STOP=1 -d src -c "SELECT pg_create_logical_replication_slot('tt_slot', 'pgoutput')" >/dev/null
export PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 -f "$consistency/schema.sql" >/dev/null
tt_db_init postgres
# A slot made beforehand: CREATE SUBSCRIPTION cannot create one in its own cluster.
tt_sql "CREATE SUBSCRIPTION tt_sub CONNECTION 'host=$PGHOST port=$PGPORT dbname=src user=postgres'
        PUBLICATION tt_pub WITH (create_slot = false, slot_name = 'tt_slot', copy_data = false)" >/dev/null

tt_relay A
tt_raw_tail
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
PGDATABASE=src "$py" "$consistency/workload.py" "$seed" 15 3 >"$D/workload.log" &
TT_PID[work]=$!
wait "${TT_PID[work]}"; unset 'TT_PID[work]'
cat "$D/workload.log"

# The target has applied everything: same content as the source.
content="SELECT md5(concat_ws('|', (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM acct t),
                                  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM item t),
                                  (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM evt t)))"
want=$(psql -qXAt -d src -c "$content")
tt_wait_sql "the subscription to apply everything" "SELECT ($content) = '$want'"
tt_log "target equals source: $(tt_sql "SELECT (SELECT count(*) FROM acct) + (SELECT count(*) FROM item) + (SELECT count(*) FROM evt)") rows"
tt_finish
