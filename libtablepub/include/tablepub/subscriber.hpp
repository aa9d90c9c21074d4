// tablepub::Subscriber: keeps in-memory mirrors of published tables from a
// relay's change stream and snapshot endpoint (docs/protocol.md section 9).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "tablepub/table_sync.hpp"

namespace tablepub {

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
class Subscriber {
public:
    // Throws std::invalid_argument for a table name without a dot, no
    // endpoints or malformed CURVE keys, zmq::error_t for a bad endpoint.
    Subscriber(SubscriberOptions options, SyncCallbacks callbacks = {});
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;
    ~Subscriber();

    // Handles what arrives within `timeout` (at most ~100 ms per call).
    void poll(std::chrono::milliseconds timeout);
    void start();
    void stop() noexcept;

    [[nodiscard]] std::vector<TableStatus> status() const;
    // Runs fn with the table's sync state (mirror, schema) under the lock;
    // false when the table is unknown.
    bool with_table(const std::string& table, const std::function<void(const TableSync&)>& fn) const;
    // True when every table is live with no lag.
    [[nodiscard]] bool all_live() const;

private:
    struct Outstanding {
        TableSync* table = nullptr;
        TableSync::Clock::time_point last_activity;
    };

    void connect_dealer();
    void on_stream_message(TableSync::Clock::time_point now);
    void on_reply(TableSync::Clock::time_point now);
    void send_requests(TableSync::Clock::time_point now);
    void cancel_abandoned();
    void expire_requests(TableSync::Clock::time_point now);
    void send(const v1::Request& req);

    SubscriberOptions options_;
    zmq::context_t ctx_;
    zmq::socket_t sub_;
    zmq::socket_t dealer_;
    std::map<std::string, std::unique_ptr<TableSync>> tables_;  // by topic
    std::map<std::uint64_t, Outstanding> outstanding_;          // by request_id
    std::map<TableSync*, std::uint64_t> current_request_;
    mutable std::recursive_mutex mutex_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    bool started_ = false;
};

}  // namespace tablepub
