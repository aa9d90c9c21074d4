#!/usr/bin/env bash
# Torture (a): subscribers join while TRUNCATE + refill and table-rewriting
# ALTERs (ALTER COLUMN ... TYPE, on a published and on an excluded column)
# run in a loop. Every committed state of the table has exactly N rows, so
# every snapshot any subscriber receives must have N rows (a snapshot taken
# before the table was locked sees the rewritten, empty file: 0 rows), no
# subscriber may see an anomaly, and every mirror must end equal to the table.
# Resyncs are accepted only for the type change of the published column.
#   tests/torture/snapshot_race.sh SEED [BUILD]
scenario=snapshot_race
. "$(dirname "$0")/lib.sh"
N=5000
JOINERS=4

tt_pg_start
tt_db_init postgres
tt_sql "CREATE TABLE big (id int PRIMARY KEY, v int, payload text, secret text);
        INSERT INTO big SELECT g, g, 'p' || g, 's' || g FROM generate_series(1, $N) g;
        SELECT tablepub.publish('big', exclude_columns => '{secret}');" >/dev/null
TT_ALLOW_RESYNC="ALTER COLUMN v TYPE int <-> bigint changes a published column's type"

tt_relay A --snapshot-chunk-rows 200
tt_raw_tail

# The churn: one session; the statement sequence is fixed by the seed.
churn() {
    local round=0 vtype=int
    while [ ! -e "$D/stop-churn" ]; do
        round=$((round + 1))
        case $((RANDOM % 5)) in
            0|1) echo "BEGIN; TRUNCATE big;
                       INSERT INTO big SELECT g, g + $round, 'r$round', 's' FROM generate_series(1, $N) g; COMMIT;" ;;
            2) echo "ALTER TABLE big ALTER COLUMN secret TYPE text USING secret || '';" ;;  # rewrite, excluded column
            3) if [ $vtype = int ]; then vtype=bigint; else vtype=int; fi
               echo "ALTER TABLE big ALTER COLUMN v TYPE $vtype;" ;;                          # rewrite, published column
            4) echo "UPDATE big SET v = v + 1 WHERE id % 13 = $((RANDOM % 13));" ;;
        esac
        # Keep psql's backlog short: wait for the previous statement's marker.
        echo "\\o $D/churn.round"; echo "SELECT $round;"; echo "\\o"
        while [ "$(cat "$D/churn.round" 2>/dev/null | tr -d ' \n')" != "$round" ] && [ ! -e "$D/stop-churn" ]; do sleep 0.02; done
    done
}
churn | psql -qXAt -v ON_ERROR_STOP=1 >"$D/churn.log" 2>&1 &
TT_PID[churn]=$!

churn_round() { cat "$D/churn.round" 2>/dev/null | tr -d ' \n' || true; }
# Joiners, one after the other, each once the previous one has its snapshot
# and the churn has gone on for two more rounds.
for i in $(seq 1 $JOINERS); do
    r0=$(churn_round)
    t0=$(date +%s)
    until [ "$(churn_round)" -ge $(( ${r0:-0} + 2 )) ] 2>/dev/null; do
        [ $(( $(date +%s) - t0 )) -lt "$TT_TIMEOUT" ] || tt_fail "the churn does not advance"
        sleep 0.05
    done
    tt_tail "j$i" public.big
    [ $i = 2 ] && tt_py p public.big
    t0=$(date +%s)
    until grep -q '"snapshot_end"' "$D/tail-j$i.jsonl" 2>/dev/null; do
        [ $(( $(date +%s) - t0 )) -lt "$TT_TIMEOUT" ] || tt_fail "joiner j$i got no snapshot"
        kill -0 "${TT_PID[churn]}" 2>/dev/null || tt_fail "the churn session died: $(tail -3 "$D/churn.log")"
        sleep 0.05
    done
    tt_log "joiner j$i has its snapshot"
done
touch "$D/stop-churn"
wait "${TT_PID[churn]}" || tt_fail "the churn session failed: $(tail -3 "$D/churn.log")"
unset 'TT_PID[churn]'
tt_log "churn: $(churn_round) rounds"

# No snapshot may show a state the table never had.
"$py" - "$N" "$D"/tail-j*.jsonl <<'PY' || tt_fail "a subscriber received a snapshot of a state the table never had"
import json, sys
n, bad = int(sys.argv[1]), 0
for path in sys.argv[2:]:
    for line in open(path):
        if not line.endswith("\n"):
            break  # the tails still run: their last line may be half written
        m = json.loads(line)
        if m["op"] == "snapshot_end":
            ok = m["rows"] == n
            bad += not ok
            print("  %s: snapshot of %d rows%s" % (path.rsplit("/", 1)[1], m["rows"], "" if ok else "  <- table always has %d" % n))
sys.exit(1 if bad else 0)
PY
tt_finish
