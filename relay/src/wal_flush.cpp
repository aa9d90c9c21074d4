#include "relay/wal_flush.hpp"

#include "common/error.hpp"
#include "common/pg_connection.hpp"

namespace tablepub {

void make_commits_durable(PgConnection& conn) {
    conn.exec(
        "SELECT pg_catalog.set_config('synchronous_commit', 'on', false) "
        "WHERE pg_catalog.current_setting('synchronous_commit') = 'off'");
}

void flush_wal(PgConnection& conn) {
    conn.exec("BEGIN");
    try {
        // The record takes an xid and is WAL: the commit record that follows
        // it is flushed before COMMIT returns, and with it every record
        // inserted before this statement ran.
        conn.exec("SELECT pg_catalog.pg_logical_emit_message(true, 'tablepub', ''::pg_catalog.text)");
    } catch (const ConnectionLost&) {
        throw;
    } catch (const Error&) {
        conn.exec("ROLLBACK");
        throw;
    }
    conn.exec("COMMIT");
}

}  // namespace tablepub
