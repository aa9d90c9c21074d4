#!/usr/bin/env bash
# Durable before published: database crashes (pg_ctl restart -m immediate)
# under a busy writer with synchronous_commit = off cluster-wide must never
# leave a subscriber with a change the restarted database no longer has.
#
#   tests/durability/crash_restart.sh SEED [BUILD]      (BUILD defaults to ./build)
#
# A real relay (a non-superuser login that is only a member of
# tablepub_relay) publishes; a real subscriber (tablepub-tail --snapshot
# --mirror, the C++ client library) joins before the writes start; pgbench
# clients insert, update and delete rows in two tables while the database
# is crashed CRASH_COUNT times (default 5). With asynchronous commit
# each crash loses the transactions whose commit records were not yet
# flushed; had the relay published any of them, the mirror would keep rows
# the table lost, or a republished sequence number would carry other
# content. Fails (exit 1) unless the subscriber ends live and caught up,
# with 0 anomalies, no resync and one snapshot, its mirror equal to the
# tables row by row, and every republished message byte-identical.
set -euo pipefail
seed=${1:?usage: crash_restart.sh SEED [BUILD]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUN_BUILD=${2:-}
CRASH_COUNT=${CRASH_COUNT:-5}
CLIENTS=${CRASH_CLIENTS:-4}
# Transactions per second: at this rate a WAL page fills in tens of
# milliseconds, so the commits an immediate shutdown loses (the unwritten
# tail of the WAL) span the relay's publishing delay of a few milliseconds.
RATE=${CRASH_RATE:-300}
start=$(date +%s)
RANDOM=$seed

RUN_NAME="crash_restart seed $seed"
. "$root/tests/lib/relay_run.sh"
. "$root/tests/lib/mirror_end.sh"
# wal_writer_delay 1s: asynchronous commits stay unflushed for up to a few
# seconds, so every crash under load loses some.
run_start crash -c synchronous_commit=off -c wal_writer_delay=1s
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
crash_database() {
    as_pg "$PGTMP_BIN/pg_ctl" -D "$PGD/data" -l "$PGD/postgres.log" -m immediate -w -t 60 restart >/dev/null
}

psql -qX -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE EXTENSION tablepub;
CREATE TABLE acct (id int PRIMARY KEY, balance int NOT NULL, note text);
CREATE TABLE item (id int PRIMARY KEY, acct int NOT NULL, qty int NOT NULL);
SELECT tablepub.publish('acct'), tablepub.publish('item');
SQL
relay_setup

# Each transaction touches both tables and a random key: inserts, updates
# (also of the key's other row) and deletes, so a lost transaction shows.
cat >"$D/work.sql" <<'SQL'
\set k random(1, 3000)
\set d random(-50, 50)
\set op random(1, 10)
BEGIN;
INSERT INTO acct VALUES (:k, :d, 'c' || :client_id) ON CONFLICT (id) DO UPDATE SET balance = acct.balance + :d, note = EXCLUDED.note;
INSERT INTO item VALUES (:k, :k % 97, :d) ON CONFLICT (id) DO UPDATE SET qty = item.qty + 1;
DELETE FROM acct WHERE id = (:k * 7) % 3000 + 1 AND :op = 1;
UPDATE item SET qty = qty - 1 WHERE id = (:k * 13) % 3000 + 1;
COMMIT;
SQL

start_relay
# What actually went over the bus.
"$tail_bin" --connect "$PUB" >"$D/raw.jsonl" 2>"$D/raw.err" &
RAW=$!
"$tail_bin" --connect "$PUB" --snapshot-endpoint "$SNAP" --request-timeout 1500 \
    --table public.acct --table public.item --snapshot --mirror "$D/mirror.jsonl" >"$D/tail.jsonl" 2>"$D/tail.err" &
TAIL=$!

# The subscriber is live (snapshot applied) before the first write, so only
# the relay's stream can bring it a lost transaction.
live=0
for i in $(seq 1 100); do
    if grep -q 'public.acct: syncing -> live' "$D/tail.err" && grep -q 'public.item: syncing -> live' "$D/tail.err"; then
        live=1; break
    fi
    kill -0 "$TAIL" 2>/dev/null || break
    sleep 0.1
done
[ $live = 1 ] || { echo "FAIL: the subscriber did not go live within 10 s" >&2; exit 1; }

# pgbench ends when the crash takes its connections: start it again after
# each crash. Its errors are expected (connections killed mid-transaction).
run_writer() {
    pgbench -n -c "$CLIENTS" -R "$RATE" -T 600 -f "$D/work.sql" >>"$D/pgbench.log" 2>&1 &
    WORK=$!
}
wait_written() {  # wait until at least $1 more transactions were published
    local want=$(( $(relay_rows) + $1 )) i
    for i in $(seq 1 200); do
        [ "$(relay_rows)" -ge "$want" ] && return 0
        sleep 0.05
    done
    echo "FAIL: nothing was published for 10 s" >&2
    exit 1
}
relay_rows() { wc -l <"$D/raw.jsonl"; }

run_writer
for c in $(seq 1 "$CRASH_COUNT"); do
    wait_written $((300 + RANDOM % 1500))
    crash_database
    stop_pid "$WORK"; WORK=
    run_writer
done
wait_written 1000
stop_pid "$WORK"; WORK=
echo "$CRASH_COUNT database crashes (pg_ctl restart -m immediate) under $CLIENTS pgbench clients at $RATE tx/s;" \
    "$(grep -c 'reconnecting' "$D/relay.log" || true) relay reconnections"

# Caught up, the subscriber's own account (live, no resync, no anomaly, one
# snapshot), and its mirror equal to the tables and to what went over the bus.
wait_caught_up
finish_mirror public.acct,public.item
echo "crash_restart seed $seed: ok in $(( $(date +%s) - start )) s"
