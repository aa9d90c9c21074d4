#!/usr/bin/env bash
# Torture (h): a LATIN1 database (createdb -E LATIN1 -T template0
# --locale=C) with a published table whose name, column names and values
# hold é, ß, ñ. Writers insert, update and delete while the subscribers
# join; every value must reach the C++ and the Python mirror as the same
# characters (UTF-8 on the wire), and the mirrors must equal the table.
#   tests/torture/latin1.sh SEED [BUILD]
scenario=latin1
. "$(dirname "$0")/lib.sh"

tt_pg_start
createdb -E LATIN1 -T template0 --locale=C lat
tt_db_init lat
tt_sql "CREATE TABLE café (id int PRIMARY KEY, año text, straße varchar(40), señal text, n numeric);
        INSERT INTO café SELECT g, 'año ' || g, 'Straße ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'ñ' END, g
          FROM generate_series(1, 300) g;
        SELECT tablepub.publish('café', exclude_columns => '{señal}');" >/dev/null
TABLES=(public.café)

tt_relay A
tt_raw_tail
# The writes, fixed by the seed: every statement carries non-ASCII text.
words=("é" "ß" "ñ" "Ñandú" "Größe" "façade" "naïve" "¿qué?" "½ ©®" "ÿ")
for i in $(seq 1 1500); do
    k=$((RANDOM % 400 + 1)); w=${words[RANDOM % ${#words[@]}]}
    case $((RANDOM % 4)) in
        0) echo "INSERT INTO café VALUES ($k, '$w $i', 'ß$i', '$w', $i) ON CONFLICT (id) DO UPDATE SET año = EXCLUDED.año;" ;;
        1) echo "UPDATE café SET straße = '$w', n = n + 1 WHERE id = $k;" ;;
        2) echo "UPDATE café SET señal = '$w' WHERE id = $k;" ;;  # excluded column only
        3) echo "DELETE FROM café WHERE id = $k;" ;;
    esac
done >"$D/writes.sql"
psql -qX -v ON_ERROR_STOP=1 -f "$D/writes.sql" >"$D/writes.log" 2>&1 &
TT_PID[work]=$!
tt_tail c "${TABLES[@]}"
tt_py p "${TABLES[@]}"
wait "${TT_PID[work]}" || tt_fail "the writes failed: $(tail -3 "$D/writes.log")"
unset 'TT_PID[work]'
tt_finish
