// tablepub::SetSubscriber: keeps a set of tables as one unit, exposing only
// states at transaction boundaries (docs/protocol.md section 9, "Several
// tables as one unit"). The per-table Subscriber stays for consumers that
// do not need consistency across tables.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "tablepub/subscriber.hpp"
#include "tablepub/table_set_sync.hpp"

namespace tablepub {

struct SetSubscriberOptions {
    std::vector<std::string> publish_endpoints;   // relay PUB endpoints (active and standby)
    std::vector<std::string> snapshot_endpoints;  // relay ROUTER endpoints
    std::vector<std::string> tables;              // the set, as "schema.table"
    std::uint32_t credit = 16;                    // snapshot/replay chunks in flight
    std::uint32_t chunk_rows = 0;                 // 0: the relay's default
    std::chrono::milliseconds request_timeout{10'000};
    // CURVE keys as in SubscriberOptions.
    std::string curve_server_key, curve_public_key, curve_secret_key;
    SetOptions sync;
};

struct SetStatus {
    SetState state = SetState::syncing;
    std::string reason;
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

// Owns a SUB socket (the set's topics and ".tx") and a DEALER, and one
// TableSetSync. Drive it with poll() from one thread or start() a thread;
// callbacks run on that thread with the lock held. status() and with_view()
// may be called from any thread and always see a transaction boundary.
class SetSubscriber {
public:
    // Throws std::invalid_argument for bad table names, no endpoints or
    // malformed CURVE keys, zmq::error_t for a bad endpoint.
    SetSubscriber(SetSubscriberOptions options, SetCallbacks callbacks = {});
    SetSubscriber(const SetSubscriber&) = delete;
    SetSubscriber& operator=(const SetSubscriber&) = delete;
    ~SetSubscriber();

    void poll(std::chrono::milliseconds timeout);
    void start();
    void stop() noexcept;

    [[nodiscard]] SetStatus status() const;
    // Runs fn with the set's state (mirrors, schemas, position) under the lock.
    void with_view(const std::function<void(const TableSetSync&)>& fn) const;

private:
    void connect_dealer();
    void on_stream_message(TableSetSync::Clock::time_point now);
    void on_reply(TableSetSync::Clock::time_point now);
    void send_requests(TableSetSync::Clock::time_point now);
    void send(const v1::Request& req);

    SetSubscriberOptions options_;
    zmq::context_t ctx_;
    zmq::socket_t sub_;
    zmq::socket_t dealer_;
    TableSetSync sync_;
    std::uint64_t outstanding_ = 0;  // request id on the wire, 0: none
    TableSetSync::Clock::time_point last_activity_{};
    mutable std::recursive_mutex mutex_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    bool started_ = false;
};

}  // namespace tablepub
