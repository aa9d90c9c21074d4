#!/usr/bin/env bash
# Torture (i): DDL on a published table while two sessions write to it:
# ADD COLUMN (with a default), RENAME COLUMN, DROP COLUMN, and primary-key
# changes (to the excluded column `secret`, which must either be refused or
# published from then on; to (id, v); back to `id`). Writes that a DDL step made
# invalid fail and roll back, as they would in an application. The mirrors
# must end equal to the table with no anomaly; resyncs are accepted (a
# subscriber may apply a new column or key only by a new snapshot).
#   tests/torture/ddl_load.sh SEED [BUILD]
scenario=ddl_load
. "$(dirname "$0")/lib.sh"

tt_pg_start
tt_db_init postgres
tt_sql "CREATE TABLE d (id int PRIMARY KEY, v int, a text, b int, secret int NOT NULL UNIQUE);
        INSERT INTO d SELECT g, g, 'a' || g, g % 7, -g FROM generate_series(1, 500) g;
        SELECT tablepub.publish('d', exclude_columns => '{secret}');" >/dev/null
TABLES=(public.d)
TT_ALLOW_RESYNC="added columns and key changes are applied by a new snapshot"
TT_RAW=0  # renamed and dropped columns were legitimately on the bus earlier

tt_relay A
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"

# Writers: fixed statements per seed; failures (a dropped column, a key
# collision) abort only their own transaction.
for w in 1 2; do
    for i in $(seq 1 1500); do
        k=$((RANDOM % 700 + 1))
        case $((RANDOM % 5)) in
            0) echo "INSERT INTO d (id, v, secret) VALUES ($k, $i, -$k) ON CONFLICT DO NOTHING;" ;;
            1) echo "UPDATE d SET v = v + 1 WHERE id = $k;  -- a key update while v is in the key" ;;
            2) echo "DELETE FROM d WHERE id = $k;" ;;
            3) echo "BEGIN; UPDATE d SET v = $i WHERE id % 10 = $((k % 10)); INSERT INTO d (id, v, secret) VALUES ($((k + 700)), 0, -$((k + 700))) ON CONFLICT DO NOTHING; COMMIT;" ;;
            4) echo "UPDATE d SET a = 'w$w.$i' WHERE id = $k;" ;;  # fails once a is renamed
        esac
    done >"$D/writes-$w.sql"
    psql -qX -v ON_ERROR_STOP=0 -f "$D/writes-$w.sql" >"$D/writes-$w.log" 2>&1 &
    TT_PID[w$w]=$!
done
# The DDL session: each step waits a little so writes fall between steps.
psql -qX -v ON_ERROR_STOP=0 >"$D/ddl.log" 2>&1 <<'SQL' &
SELECT pg_sleep(0.5);
ALTER TABLE d ADD COLUMN e int DEFAULT 7;
SELECT pg_sleep(0.5);
ALTER TABLE d RENAME COLUMN a TO a_renamed;
SELECT pg_sleep(0.5);
ALTER TABLE d DROP COLUMN b;
SELECT pg_sleep(0.5);
\echo key change to the excluded column:
ALTER TABLE d DROP CONSTRAINT d_pkey, ADD CONSTRAINT d_pkey PRIMARY KEY (secret);
SELECT pg_sleep(0.5);
\echo key change to (id, v):
ALTER TABLE d ALTER COLUMN v SET NOT NULL;
ALTER TABLE d DROP CONSTRAINT d_pkey, ADD CONSTRAINT d_pkey PRIMARY KEY (id, v);
SELECT pg_sleep(0.5);
UPDATE d SET v = v + 100 WHERE id % 3 = 0;
\echo key change back to id:
ALTER TABLE d DROP CONSTRAINT d_pkey, ADD CONSTRAINT d_pkey PRIMARY KEY (id);
SQL
TT_PID[ddl]=$!
for n in w1 w2 ddl; do wait "${TT_PID[$n]}" || tt_fail "session $n failed"; unset "TT_PID[$n]"; done
grep -v -e pg_sleep -e '^-*$' -e '^ *$' -e '^(1 row)' "$D/ddl.log" | sed 's/^/  ddl: /' || true
tt_log "published columns now: $(tt_sql "SELECT columns FROM tablepub.publications")"
tt_finish
