// Internal: one snapshot or replay stream, shared by the server thread
// (which grants credit and cancels) and its worker thread (which reads the
// database and sends replies).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "tablepub.pb.h"
#include "tablepub/sync_server.hpp"

namespace tablepub::sync {

struct Stream {
    std::string identity;  // ROUTER routing id of the client
    std::uint64_t request_id = 0;
    v1::Request request;

    std::mutex mutex;
    std::condition_variable cv;
    std::uint32_t credit = 0;
    bool cancelled = false;

    std::atomic<bool> finished{false};
    std::thread worker;
};

// Thrown inside a worker when its stream is cancelled (client, stop) or idle.
struct StreamAborted {
    bool timed_out = false;
};

// What a worker needs: where to send replies and how long to wait.
class StreamContext {
public:
    StreamContext(zmq::context_t& ctx, const std::string& inproc, const SyncServerOptions& options,
                  Stream& stream);

    [[nodiscard]] const SyncServerOptions& options() const noexcept { return options_; }
    [[nodiscard]] Stream& stream() noexcept { return stream_; }
    [[nodiscard]] std::uint32_t chunk_rows() const noexcept;

    // Sends one serialized Reply to the client (through the server thread).
    void send(const std::string& reply);
    void send(const v1::Reply& reply) { send(reply.SerializeAsString()); }
    void send_error(v1::ErrorCode code, const std::string& message);
    // Waits for one chunk of credit; throws StreamAborted.
    void take_credit();

private:
    const SyncServerOptions& options_;
    Stream& stream_;
    zmq::socket_t push_;
};

// The two kinds of stream; each sends its replies and returns, or throws.
void run_snapshot(StreamContext& ctx);
void run_replay(StreamContext& ctx);

}  // namespace tablepub::sync
