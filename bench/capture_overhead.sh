#!/usr/bin/env bash
# Cost of capture inside the database (issue 2, point 9).
#
#  1. pgbench tpcb-like, scale 10, 4 clients: TPS with no capture, with the
#     four pgbench tables published by tablepub, and with a PL/pgSQL
#     to_jsonb outbox trigger for reference. pgbench_history gets a
#     bigserial primary key in every run so that the comparison is fair.
#  2. 250k-row INSERT followed by an UPDATE of every row: time unpublished
#     vs published.
#
# Prints a markdown report on stdout. Usage:
#   bench/capture_overhead.sh [--duration SECONDS] [--scale N] [--clients N] [--rows N]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=30 SCALE=10 CLIENTS=4 ROWS=250000
while [ $# -gt 0 ]; do
    case $1 in
        --duration) DURATION=$2; shift 2 ;;
        --scale) SCALE=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --rows) ROWS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

start_cluster
psqlq -c "CREATE EXTENSION tablepub"

PLPGSQL_OUTBOX="
CREATE TABLE IF NOT EXISTS json_outbox (id bigserial PRIMARY KEY, txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tbl text NOT NULL, op text NOT NULL, old jsonb, new jsonb);
CREATE OR REPLACE FUNCTION json_outbox_capture() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  INSERT INTO json_outbox (tbl, op, old, new) VALUES (TG_TABLE_NAME, TG_OP,
     CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
  RETURN NULL;
END \$\$;"

# init_pgbench MODE: fresh pgbench tables, then MODE = none | tablepub | plpgsql
init_pgbench() {
    pgbench -q -i -s "$SCALE" >/dev/null 2>&1
    psqlq -c "ALTER TABLE pgbench_history ADD COLUMN id bigserial PRIMARY KEY" -c "CHECKPOINT" -c "VACUUM ANALYZE"
    local t
    for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
        case $1 in
            tablepub) psqlq -c "SELECT tablepub.publish('$t')" >/dev/null ;;
            plpgsql) psqlq -c "$PLPGSQL_OUTBOX" -c "CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION json_outbox_capture()" ;;
        esac
    done
    psqlq -c "CHECKPOINT"
}

tps() {
    pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" 2>/dev/null | awk '/^tps = /{print $3}'
}

declare -A TPS
for mode in none tablepub plpgsql; do
    init_pgbench "$mode"
    TPS[$mode]=$(tps)
    echo "pgbench $mode: ${TPS[$mode]} tps" >&2
done
psqlq -c "DROP TABLE IF EXISTS json_outbox CASCADE"

# bulk MODE: seconds for INSERT of ROWS rows + UPDATE of all of them
bulk() {
    psqlq -c "DROP TABLE IF EXISTS bulk" \
          -c "CREATE TABLE bulk (id int PRIMARY KEY, n int NOT NULL, label text, at timestamptz)" >/dev/null
    [ "$1" = tablepub ] && psqlq -c "SELECT tablepub.publish('bulk')" >/dev/null
    psqlq -c "CHECKPOINT"
    local t0 t1 t2
    t0=$(now_s)
    psqlq -c "INSERT INTO bulk SELECT g, g % 1000, 'row ' || g, '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $ROWS) g"
    t1=$(now_s)
    psqlq -c "UPDATE bulk SET n = n + 1"
    t2=$(now_s)
    echo "$(calc "$t1 - $t0") $(calc "$t2 - $t1")"
}

read -r ins_none upd_none < <(bulk none)
read -r ins_pub upd_pub < <(bulk tablepub)
echo "bulk none: $ins_none $upd_none; tablepub: $ins_pub $upd_pub" >&2

ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
cat <<MD
Machine: $(machine_line)
Command: bench/capture_overhead.sh --duration $DURATION --scale $SCALE --clients $CLIENTS --rows $ROWS

| pgbench tpcb-like (scale $SCALE, $CLIENTS clients, ${DURATION} s) | TPS | vs none |
| --- | ---: | ---: |
| no capture | ${TPS[none]} | 1.00x |
| tablepub, 4 tables published | ${TPS[tablepub]} | $(ratio "${TPS[tablepub]}" "${TPS[none]}")x |
| PL/pgSQL to_jsonb outbox trigger (reference) | ${TPS[plpgsql]} | $(ratio "${TPS[plpgsql]}" "${TPS[none]}")x |

| $ROWS rows | INSERT s | UPDATE s | total s | vs unpublished |
| --- | ---: | ---: | ---: | ---: |
| unpublished | $ins_none | $upd_none | $(calc "$ins_none + $upd_none") | 1.00x |
| published | $ins_pub | $upd_pub | $(calc "$ins_pub + $upd_pub") | $(ratio "$(calc "$ins_pub + $upd_pub")" "$(calc "$ins_none + $upd_none")")x |
MD
