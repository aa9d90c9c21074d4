// tablepub::SetSubscriber: keeps a set of tables as one unit, exposing only
// states at transaction boundaries (docs/protocol.md section 9, "Several
// tables as one unit"). The per-table Subscriber stays for consumers that
// do not need consistency across tables. Installed: needs only standard
// headers and the library's own (the ZeroMQ sockets and the set's sync
// engine live behind a pointer).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tablepub/datum.hpp"
#include "tablepub/set_types.hpp"

namespace tablepub {

class TableSetSync;

struct SetSubscriberOptions {
    std::vector<std::string> publish_endpoints;   // relay PUB endpoints (active and standby)
    std::vector<std::string> snapshot_endpoints;  // relay ROUTER endpoints
    // The set, as "schema.table" (1 to 32), split at the first dot:
    // "s.t.u" is s."t.u" (a schema whose name holds a dot cannot be named).
    std::vector<std::string> tables;
    std::uint32_t credit = 16;     // snapshot/replay chunks in flight
    std::uint32_t chunk_rows = 0;  // 0: the relay's default
    std::chrono::milliseconds request_timeout{10'000};
    // CURVE keys as in SubscriberOptions.
    std::string curve_server_key, curve_public_key, curve_secret_key;
    SetOptions sync;
};

struct SetStatus {
    SetState state = SetState::syncing;
    std::string reason;
    std::string moved_to;               // state moved: the renamed table's name now ("schema.table")
    std::uint64_t position = 0;         // last transaction in the view
    std::uint64_t latest_position = 0;  // last announced
    std::uint64_t lag = 0;              // in transactions
    double lag_seconds = 0;             // now - commit time of the last applied, while behind
    std::size_t buffered = 0;
    bool stale = false;
    SetStats stats;
    struct Table {
        std::string table;
        std::uint64_t last_seq = 0;
        std::size_t rows = 0;
    };
    std::vector<Table> tables;
};

// The read view of the whole set at one transaction boundary. It refers to
// the subscriber's live state, which the next transaction changes, so it
// exists only inside SetSubscriber::read, under the lock: it cannot be
// copied or moved out (copy the rows you need instead). Never keep its
// address past the call.
class SetView {
public:
    SetView(const SetView&) = delete;
    SetView(SetView&&) = delete;
    SetView& operator=(const SetView&) = delete;
    SetView& operator=(SetView&&) = delete;
    ~SetView() = default;

    // Position of the last transaction the view contains (0 before any).
    [[nodiscard]] std::uint64_t position() const noexcept;
    // Commit time of that transaction (microseconds since 1970-01-01 UTC; 0
    // when the view comes from a snapshot with no transaction since).
    [[nodiscard]] std::int64_t commit_time() const noexcept;
    // Rows of the table's mirror (0 for a table not in the set).
    [[nodiscard]] std::size_t rows(const std::string& table) const;
    // Calls fn for every row of the table (in no particular order); false
    // when the table is not in the set.
    bool for_each_row(const std::string& table, const std::function<void(const DatumRow&)>& fn) const;

private:
    friend class SetSubscriber;
    explicit SetView(const TableSetSync& sync) noexcept : sync_(sync) {}
    const TableSetSync& sync_;
};

// Owns a SUB socket (the set's topics and ".tx") and a DEALER, and one
// TableSetSync. Drive it with poll() from one thread or start() a thread;
// callbacks run on that thread with the lock held (they may call read()
// and status()). status() and read() may be called from any thread and
// always see a transaction boundary.
//
// A callback that throws: the transaction (snapshot, state change) it was
// called for stays applied (the view, position and statistics are as if
// it had returned; it is not called again for it), the step under way is
// finished, and the first such exception leaves poll() unchanged; later
// callbacks of the same step still run (their exceptions are dropped).
// Polling again goes on with the next transaction: nothing is skipped or
// applied twice. On the thread of start(), the exception stops the thread
// and failure() returns it.
class SetSubscriber {
public:
    // Throws std::invalid_argument for bad table names, no endpoints or
    // malformed CURVE keys, zmq::error_t (a std::exception) for a bad
    // endpoint.
    SetSubscriber(SetSubscriberOptions options, SetCallbacks callbacks = {});
    SetSubscriber(const SetSubscriber&) = delete;
    SetSubscriber& operator=(const SetSubscriber&) = delete;
    ~SetSubscriber();

    // Handles what arrives within `timeout` (at most ~100 ms per call).
    // Rethrows the first exception of a callback (see above), and
    // zmq::error_t.
    void poll(std::chrono::milliseconds timeout);
    // Polls on a thread of its own until stop() or an exception; start()
    // again after a failure resumes where it stopped. Call start() and
    // stop() from one thread.
    void start();
    void stop() noexcept;
    // The exception that stopped the thread of start() (a callback's, or
    // zmq::error_t); null while it runs or if it ended by stop(). Kept
    // until the next start().
    [[nodiscard]] std::exception_ptr failure() const;

    [[nodiscard]] SetStatus status() const;
    // Runs fn with the read view of every table of the set under the lock:
    // all tables at the same transaction boundary.
    void read(const std::function<void(const SetView&)>& fn) const;
    // Runs fn with the set's sync engine (mirrors, schemas) under the lock.
    // TableSetSync is defined in a header of the source tree that is not
    // installed (tablepub/table_set_sync.hpp).
    void with_view(const std::function<void(const TableSetSync&)>& fn) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tablepub
