// The relay's snapshot/replay service on a ROUTER endpoint
// (docs/protocol.md sections 5 to 7).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace tablepub {

struct SyncServerOptions {
    std::string conninfo;                // libpq conninfo; each stream opens its own session
    std::vector<std::string> endpoints;  // bound by the ROUTER socket
    std::uint32_t chunk_rows = 1000;     // rows (or messages) per chunk unless the client asks fewer
    std::uint32_t default_credit = 8;    // chunks in flight when the request says 0
    std::uint32_t max_credit = 64;       // cap on the chunks a client may have in flight
    std::size_t max_streams = 8;         // concurrent streams; more are answered BUSY
    std::chrono::milliseconds idle_timeout{60'000};  // without credit before TIMEOUT
    std::string curve_secret_key;        // Z85; non-empty makes the endpoint a CURVE server
    std::int64_t max_change_bytes = 256LL << 20;  // the relay's --max-change-bytes: replay replaces the same changes
};

// Serves snapshot and replay requests in a thread of its own, with one
// database session per stream (each in its own worker thread), so that
// neither a slow client nor a large table stalls the publishing loop or
// another stream. Memory per stream is bounded by credit x chunk size.
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
