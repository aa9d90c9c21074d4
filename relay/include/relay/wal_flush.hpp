// Making transactions durable on demand, whatever synchronous_commit their
// sessions used (docs/design.md section 2, "Durable before published").
#pragma once

namespace tablepub {

class PgConnection;

// Makes every commit of conn's session that wrote WAL wait for its flush:
// synchronous_commit = on unless the session has a setting other than off
// (each of which flushes the local WAL at commit).
void make_commits_durable(PgConnection& conn);

// Flushes the WAL up to at least its current insert position. Needs make_commits_durable(conn)
// first. It commits a transaction that writes one WAL record (a
// transactional logical-decoding message with prefix "tablepub" and no
// content): PostgreSQL commits a transaction that has an xid but wrote no
// WAL asynchronously (xact.c, RecordTransactionCommit), so taking an xid
// alone flushes nothing. Any role may call pg_logical_emit_message, at any
// wal_level; logical decoding clients see the empty message (pgoutput
// forwards it only to subscribers that ask for messages).
void flush_wal(PgConnection& conn);

}  // namespace tablepub
