#include "durable_snapshot.hpp"

#include "common/error.hpp"
#include "relay/wal_flush.hpp"

namespace tablepub::sync {

bool DurableSnapshots::make_durable(Clock::time_point taken) {
    std::lock_guard lock(mutex_);
    // A flush that started after the snapshot, run for another stream while
    // this one waited for the lock, covers it too. (Times, not LSNs: an LSN
    // remembered from before a failover of the database may lie ahead of the
    // new primary's WAL.)
    if (last_started_ && *last_started_ > taken) return false;
    const auto started = Clock::now();
    for (int attempt = 0;; ++attempt) {
        try {
            if (!conn_) {
                conn_ = PgConnection(conninfo_);
                conn_.exec("SET application_name = 'tablepub-relay flush'; SET search_path = pg_catalog, pg_temp");
                make_commits_durable(conn_);
            }
            flush_wal(conn_);
            last_started_ = started;
            return true;
        } catch (const ConnectionLost&) {
            // A session from before a database restart: one more try with a
            // new one.
            conn_ = PgConnection();
            if (attempt > 0) throw;
        } catch (const Error&) {
            conn_ = PgConnection();
            throw;
        }
    }
}

}  // namespace tablepub::sync
