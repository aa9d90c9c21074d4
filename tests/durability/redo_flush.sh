#!/usr/bin/env bash
# The relay flushes the WAL when it becomes active, before it redoes an open
# batch that another session recorded (docs/design.md section 2, "Durable
# before published"). A transaction that only takes an xid commits
# asynchronously and flushes nothing (xact.c, RecordTransactionCommit), so
# the flush must commit a transaction that writes WAL. This checks it on a
# cluster where nothing else flushes: synchronous_commit = off, the WAL
# writer stopped (tests/torture/lib.sh, tt_hold_walwriter), no bgwriter page
# writes, no autovacuum or checkpoint. An asynchronous commit is left
# unflushed; once the relay logs that it is active, the WAL must be flushed
# past it.
#   tests/durability/redo_flush.sh SEED [BUILD]
scenario=redo_flush
. "$(dirname "$0")/../torture/lib.sh"

tt_pg_start -c synchronous_commit=off -c wal_buffers=64MB -c bgwriter_lru_maxpages=0 -c autovacuum=off \
    -c checkpoint_timeout=1h
export PGDATABASE=postgres
tt_db_init postgres
tt_sql "CREATE TABLE plain (id int)"
tt_hold_walwriter
tt_sql "INSERT INTO plain VALUES ($seed)"
lsn=$(tt_sql "SELECT pg_current_wal_insert_lsn()")
[ "$(tt_sql "SELECT pg_current_wal_flush_lsn() < '$lsn'")" = t ] \
    || tt_fail "the asynchronous commit was flushed before the relay started: the test proves nothing"
tt_relay A
tt_wait_log A "active: database backend" 1
flushed=$(tt_sql "SELECT pg_current_wal_flush_lsn()")
tt_log "insert position after the asynchronous commit $lsn, flushed once the relay is active $flushed"
[ "$(tt_sql "SELECT '$flushed'::pg_lsn >= '$lsn'")" = t ] \
    || tt_fail "the relay became active without flushing the WAL past an asynchronous commit"
echo "durability $scenario seed $seed: ok in $(( $(date +%s) - tt_start )) s"
