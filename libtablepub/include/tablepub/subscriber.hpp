// tablepub::Subscriber: keeps in-memory mirrors of published tables from a
// relay's change stream and snapshot endpoint (docs/protocol.md section 9).
// Installed: needs only standard headers and the library's own (the ZeroMQ
// sockets and the per-table sync engine live behind a pointer).
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
#include "tablepub/sync_types.hpp"

namespace tablepub {

class TableSync;

struct SubscriberOptions {
    std::vector<std::string> publish_endpoints;   // relay PUB endpoints (active and standby)
    std::vector<std::string> snapshot_endpoints;  // relay ROUTER endpoints
    // Tables as "schema.table" (split at the first dot).
    std::vector<std::string> tables;
    std::uint32_t credit = 16;     // snapshot/replay chunks in flight
    std::uint32_t chunk_rows = 0;  // 0: the relay's default
    // A stream with no reply for this long is abandoned and asked again.
    std::chrono::milliseconds request_timeout{10'000};
    // CURVE (Z85 text, 40 characters): the relay's public key, and our key
    // pair; curve_public_key may be left empty (derived from the secret
    // key). Empty curve_server_key: plain. Both sockets use them.
    std::string curve_server_key, curve_public_key, curve_secret_key;
    SyncOptions sync;
};

struct TableStatus {
    std::string table;
    SyncState state = SyncState::syncing;
    std::uint64_t last_seq = 0;
    std::uint64_t latest_seq = 0;
    std::uint64_t lag = 0;
    std::size_t buffered = 0;
    std::size_t rows = 0;
    bool stale = false;
    std::string moved_to;  // state moved: the table's topic now ("schema.table")
    std::string reason;    // why the table entered its state (as passed to on_state)
    SyncStats stats;
};

// Owns a SUB and a DEALER socket and one TableSync per table. Drive it with
// poll() from one thread, or start() a thread of its own; callbacks run on
// that thread. status() and with_table() may be called from any thread.
//
// A callback that throws: the change it was called for stays applied (the
// mirror, last_seq and the statistics are as if it had returned; it is not
// called again for that change), the step under way is finished, and the
// first such exception leaves poll() unchanged; later callbacks of the same
// step still run (their exceptions are dropped). Polling again goes on
// with the next change: nothing is skipped or applied twice. On the thread
// of start(), the exception stops the thread and failure() returns it.
class Subscriber {
public:
    // Throws std::invalid_argument for a table name without a dot, no
    // endpoints or malformed CURVE keys, zmq::error_t (a std::exception) for
    // a bad endpoint.
    Subscriber(SubscriberOptions options, SyncCallbacks callbacks = {});
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;
    ~Subscriber();

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

    [[nodiscard]] std::vector<TableStatus> status() const;
    // Calls fn for every row of the table's mirror (in no particular order)
    // under the lock; false when the table is unknown. Rows are complete
    // only while the table is live.
    bool for_each_row(const std::string& table, const std::function<void(const DatumRow&)>& fn) const;
    // Runs fn with the table's sync engine (mirror, schema) under the lock;
    // false when the table is unknown. TableSync is defined in a header of
    // the source tree that is not installed (tablepub/table_sync.hpp).
    bool with_table(const std::string& table, const std::function<void(const TableSync&)>& fn) const;
    // True when every table is live with no lag.
    [[nodiscard]] bool all_live() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tablepub
