// Internal: one snapshot or replay stream, shared by the server thread
// (which grants credit, cancels and preempts), its worker thread (which
// reads the database and sends replies) and ZeroMQ's I/O thread (which
// releases the replies it has written to the connection).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "durable_snapshot.hpp"
#include "sync/sync_server.hpp"
#include "tablepub.pb.h"

namespace tablepub::sync {

using Clock = std::chrono::steady_clock;

struct Stream {
    std::string identity;  // ROUTER routing id of the client (one per connection)
    std::uint64_t request_id = 0;
    v1::Request request;
    // The tables the client's group may read (unset: every table): what a
    // replay of the transactions lists.
    std::function<bool(const std::string& schema, const std::string& table)> visible;
    // The endpoint group the request came in from (SnapshotBegin.group,
    // Transaction.group of a replay of the transactions).
    std::string group;

    std::mutex mutex;
    std::condition_variable cv;
    std::uint32_t credit = 0;  // chunks the client allows; at most max_credit
    // Bytes of this stream's replies that ZeroMQ holds (queued or being
    // written): released by the free function of each zero-copy message,
    // so they bound what a client that grants credit but never reads costs.
    std::size_t queued_bytes = 0;
    bool cancelled = false;  // by the client, a failed send, or stop()
    bool preempted = false;  // its slot went to a new request
    // Set while the worker waits for credit or queue room: a stream stalled
    // longer than preempt_after gives its slot to a waiting request.
    std::optional<Clock::time_point> stalled_since;

    std::atomic<bool> finished{false};
    std::thread worker;
};

// Thrown inside a worker when its stream is cancelled (client, stop), idle
// or preempted.
struct StreamAborted {
    bool timed_out = false;
    bool preempted = false;
};

// Thrown inside a worker when a row or message cannot fit in one reply.
struct TooLarge : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What a worker needs: where to send replies and how long to wait.
class StreamContext {
public:
    StreamContext(zmq::context_t& ctx, const std::string& inproc, const SyncServerOptions& options,
                  DurableSnapshots& durable, std::shared_ptr<Stream> stream);

    [[nodiscard]] const SyncServerOptions& options() const noexcept { return options_; }
    [[nodiscard]] DurableSnapshots& durable() noexcept { return durable_; }
    [[nodiscard]] Stream& stream() noexcept { return *stream_; }
    [[nodiscard]] std::uint32_t chunk_rows() const noexcept;

    // Sends one serialized Reply to the client (through the server thread),
    // without copying it; its bytes count as queued until ZeroMQ frees them.
    void send(std::string reply);
    void send(const v1::Reply& reply) { send(reply.SerializeAsString()); }
    void send_error(v1::ErrorCode code, const std::string& message);
    // Waits for one chunk of credit and for the stream's queued bytes to
    // drop below its budget; throws StreamAborted.
    void take_credit();

private:
    const SyncServerOptions& options_;
    DurableSnapshots& durable_;
    std::shared_ptr<Stream> stream_;
    zmq::socket_t push_;
};

// The two kinds of stream; each sends its replies and returns, or throws.
void run_snapshot(StreamContext& ctx);
void run_replay(StreamContext& ctx);  // of a table, or of the transactions
void run_transaction_replay(StreamContext& ctx);

// Throws TooLarge when a chunk holding this one element would exceed
// --snapshot-max-reply-bytes; the message names `what` ("a row") of `table`.
void check_element_size(const StreamContext& ctx, std::size_t element_bytes, const char* what,
                        const std::string& table);

}  // namespace tablepub::sync
