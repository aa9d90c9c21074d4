// Internal: makes what a snapshot sees durable before any of it is sent
// (docs/design.md section 3, "Durable snapshots").
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "common/pg_connection.hpp"

namespace tablepub::sync {

// One database session, shared by every stream of a SyncServer and opened
// on first use, whose synchronous commits flush the WAL for them. A
// snapshot can see transactions committed with synchronous_commit = off
// whose commit records are not flushed yet; a database crash would then take
// back rows a subscriber already has. Their commit records were inserted
// before the snapshot was taken, so a flush that starts after that covers
// every one of them.
class DurableSnapshots {
public:
    using Clock = std::chrono::steady_clock;

    explicit DurableSnapshots(std::string conninfo) : conninfo_(std::move(conninfo)) {}

    // Returns once a WAL flush that started after `taken` (a time after the
    // snapshot was taken) has completed; true when it ran one itself.
    // Streams that ask at the same time share one flush. Throws
    // (ConnectionLost, DbError) when it cannot flush: the snapshot must then
    // not be sent.
    bool make_durable(Clock::time_point taken);

private:
    std::string conninfo_;
    std::mutex mutex_;
    PgConnection conn_;                              // dropped after an error, reopened on next use
    std::optional<Clock::time_point> last_started_;  // of the last flush that completed
};

}  // namespace tablepub::sync
