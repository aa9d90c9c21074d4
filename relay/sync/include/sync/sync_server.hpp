// The relay's snapshot/replay service on a ROUTER endpoint
// (docs/protocol.md sections 5 to 7).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/bus_security.hpp"
#include "relay/sync_stats.hpp"

namespace tablepub {

// The memory the service may use is bounded by its options: a stream sends
// a chunk only while less than max_credit x chunk_bytes of its replies are
// queued in ZeroMQ, and builds one more; with rows smaller than chunk_bytes,
// replies cost at most max_streams x (max_credit + 2) x chunk_bytes
// (8 x 18 x 1 MiB = 144 MiB with the defaults). A larger row travels alone,
// and one that would not fit in max_reply_bytes is refused (TOO_LARGE).
struct SyncServerOptions {
    std::string conninfo;                            // libpq conninfo; each stream opens its own session
    std::vector<std::string> endpoints;              // bound by the ROUTER socket
    std::uint32_t chunk_rows = 1000;                 // rows (or messages) per chunk unless the client asks fewer
    std::size_t chunk_bytes = 1 << 20;               // a chunk ends before it grows past this (one row may)
    std::size_t max_reply_bytes = 256 << 20;         // a row or message too large for this: TOO_LARGE
    std::uint32_t default_credit = 8;                // chunks in flight when the request says 0
    std::uint32_t max_credit = 16;                   // cap on the chunks a client may have in flight
    std::size_t max_streams = 8;                     // concurrent streams; more are answered BUSY
    std::size_t max_streams_per_peer = 4;            // per client connection (ROUTER routing id)
    std::chrono::milliseconds idle_timeout{30'000};  // without credit before TIMEOUT
    // A stream that waited this long for credit gives its slot to a new
    // request when every slot is taken (the stalled stream gets TIMEOUT).
    std::chrono::milliseconds preempt_after{2'000};
    std::int64_t max_change_bytes = 256LL << 20;  // the relay's --max-change-bytes: replay replaces the same changes
    // Endpoints bound after `endpoints`, each group with its own security
    // (CURVE, ZAP domain).
    struct SecuredEndpoints {
        EndpointSecurity security;
        std::vector<std::string> endpoints;
    };
    std::vector<SecuredEndpoints> secured_endpoints;
    // Called with the ROUTER socket once it is bound, in the constructing
    // thread, before the server thread uses it (to attach a monitor).
    std::function<void(zmq::socket_t&)> on_bound;
    // Set: every snapshot and replay request is checked first, with the
    // User-Id the ZAP handler gave the requesting connection (empty when
    // none); a returned message refuses it with FORBIDDEN.
    std::function<std::optional<std::string>(const std::string& user_id, const std::string& schema,
                                             const std::string& table)>
        authorize;
    // Set: whether a group (the User-Id as above) may read a table, without
    // logging; a replay of the transactions lists only such tables.
    std::function<bool(const std::string& user_id, const std::string& schema, const std::string& table)> may_read;
    // The group every request comes from when neither `authorize` nor
    // `may_read` is set (a relay with one plain group); else the User-Id,
    // the name of the ZAP domain, hence of the group, is.
    std::string group;
    // Set: counts requests, streams and reply bytes (relay --metrics).
    std::shared_ptr<SyncStats> stats;
};

// Serves snapshot and replay requests in a thread of its own, with one
// database session per stream (each in its own worker thread), so that
// neither a slow client nor a large table stalls the publishing loop or
// another stream. Nothing a client sends can make it allocate more than the
// bound above: frames are capped at MAX_REQUEST_BYTES (request_limits.hpp),
// every field is checked, and sends never block.
class SyncServer {
public:
    // Binds the endpoints; throws ConfigError naming the one that failed.
    SyncServer(zmq::context_t& ctx, SyncServerOptions options);
    SyncServer(const SyncServer&) = delete;
    SyncServer& operator=(const SyncServer&) = delete;
    ~SyncServer();

    void start();
    // Ends every stream (clients see nothing more) and joins the threads.
    void stop() noexcept;

    [[nodiscard]] std::size_t active_streams() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tablepub
