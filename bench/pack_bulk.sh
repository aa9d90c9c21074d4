#!/usr/bin/env bash
# Packed outbox rows (extension 0.4): produce time, WAL and outbox rows of
# bench/peers.sh's bulk workload (PACK_ROWS-row INSERT, then UPDATE of all
# rows; synchronous_commit = off; a fresh cluster per measurement), capture
# only (no relay), for each mode of PACK_MODES: none (table not published),
# P<bytes> (published, tablepub.pack_bytes = <bytes>; P0 = one row per
# change, as 0.3). Rounds alternate the mode order; wall time and the
# backend's CPU time (utime + stime) per statement.
#   PACK_ROUNDS=4 PACK_MODES="none P0 P1000" bench/pack_bulk.sh
# Needs this tree's extension installed (make -C extension install).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGTMP=$ROOT/tests/lib/pgtmp
ROUNDS=${PACK_ROUNDS:-4}
MODES=${PACK_MODES:-none P0 P1000}
ROWS=${PACK_ROWS:-250000}
WORK=$(mktemp -d /tmp/tablepub-packbulk.XXXXXX)
chmod 755 "$WORK"  # pgtmp runs postgres as its own user
DIR=
trap '[ -n "$DIR" ] && "$PGTMP" stop "$DIR" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psqlv() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

# run MODE ROUND: one line of results
run() {
    local mode=$1 round=$2 pack=0 t0 t1 t2 c0 c1 c2 l0 l1 l2 rows=0 packed=0 tck
    case $mode in
        none) ;;
        P*) pack=${mode#P} ;;
        *) echo "unknown mode $mode" >&2; exit 1 ;;
    esac
    DIR=$(mktemp -d "$WORK/pg.XXXXXX")
    "$PGTMP" start "$DIR" --owner $$ -c synchronous_commit=off -c max_wal_size=4GB -c checkpoint_timeout=30min >/dev/null
    # shellcheck disable=SC1091
    . "$DIR/env"
    psqlq -c "CREATE TABLE bulk (id int PRIMARY KEY, n int NOT NULL, label text, at timestamptz)"
    [ "$mode" = none ] || psqlq -c "CREATE EXTENSION tablepub" -c "SELECT tablepub.publish('bulk')" >/dev/null
    psqlq -c "CHECKPOINT"
    # One session: wall time, backend CPU ticks and WAL insert position
    # around each statement.
    PGOPTIONS="-c tablepub.pack_bytes=$pack" psqlq >"$WORK/times" <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv BPID :pid
SELECT pg_current_wal_insert_lsn() AS l0 \gset
\echo l0 :l0
\! echo "t0 \$(date +%s.%N) \$(awk '{print \$14+\$15}' /proc/\$BPID/stat)"
INSERT INTO bulk SELECT g, g % 1000, 'row ' || g, '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $ROWS) g;
\! echo "t1 \$(date +%s.%N) \$(awk '{print \$14+\$15}' /proc/\$BPID/stat)"
SELECT pg_current_wal_insert_lsn() AS l1 \gset
\echo l1 :l1
UPDATE bulk SET n = n + 1;
\! echo "t2 \$(date +%s.%N) \$(awk '{print \$14+\$15}' /proc/\$BPID/stat)"
SELECT pg_current_wal_insert_lsn() AS l2 \gset
\echo l2 :l2
SQL
    read -r _ t0 c0 < <(grep '^t0' "$WORK/times")
    read -r _ t1 c1 < <(grep '^t1' "$WORK/times")
    read -r _ t2 c2 < <(grep '^t2' "$WORK/times")
    read -r _ l0 < <(grep '^l0' "$WORK/times")
    read -r _ l1 < <(grep '^l1' "$WORK/times")
    read -r _ l2 < <(grep '^l2' "$WORK/times")
    if [ "$mode" != none ]; then
        read -r rows packed < <(psqlv -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE get_byte(change, 0) = 0) FROM tablepub.outbox")
    fi
    tck=$(getconf CLK_TCK)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$round" "$(calc "$t1 - $t0")" "$(calc "$t2 - $t1")" \
        "$(calc "($c1 - $c0) / $tck")" "$(calc "($c2 - $c1) / $tck")" \
        "$(psqlv -c "SELECT pg_wal_lsn_diff('$l1', '$l0')::bigint")" \
        "$(psqlv -c "SELECT pg_wal_lsn_diff('$l2', '$l1')::bigint")" "$rows" "$packed"
    "$PGTMP" stop "$DIR" >/dev/null 2>&1 || true
    DIR=
}

# In a function: bash has read the whole file before anything runs.
main() {
    local round ms m
    echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'mode\tround\tinsert_s\tupdate_s\tinsert_cpu_s\tupdate_cpu_s\tinsert_wal\tupdate_wal\toutbox_rows\tpacked_rows\n'
    for round in $(seq 1 "$ROUNDS"); do
        ms=$MODES
        [ $((round % 2)) = 0 ] && ms=$(echo "$MODES" | tr ' ' '\n' | tac | tr '\n' ' ')
        for m in $ms; do run "$m" "$round"; done
    done
    echo "# end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
}
main "$@"; exit $?
