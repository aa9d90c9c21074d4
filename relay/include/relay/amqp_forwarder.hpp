// The relay's RabbitMQ sink: a thread with its own database session and
// broker connection that follows the relay's done batches from a position
// of its own (tablepub.relay_amqp_position), republishes each batch's
// messages (same seqs, same bytes) to RabbitMQ, waits for the broker's
// publisher confirms and only then stores the new position. The ZeroMQ
// path never waits for the broker (docs/design.md, "RabbitMQ sink").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "relay/amqp_options.hpp"
#include "relay/batch_reader.hpp"

namespace tablepub {

class AmqpPublisher;
class AmqpSink;
class PgConnection;

class AmqpForwarder {
public:
    AmqpForwarder(AmqpOptions options, std::string conninfo, FetchLimits limits);
    AmqpForwarder(const AmqpForwarder&) = delete;
    AmqpForwarder& operator=(const AmqpForwarder&) = delete;
    // Stops the thread (a batch in flight is abandoned: its position was
    // not stored, so it is sent again next time).
    ~AmqpForwarder();

    void start();
    // The relay marked a batch done: look for it now rather than at the
    // next poll.
    void notify();

private:
    void run();
    // One session: database and broker connected; returns when stopping,
    // throws on any failure.
    void session();
    // Forwards the done batches after the position (a few at a time);
    // returns how many it forwarded.
    std::size_t forward_some(PgConnection& db, AmqpSink& sink, AmqpPublisher& publisher);
    // Waits for notify(), a stop or `d`.
    void idle(std::chrono::milliseconds d);

    AmqpOptions options_;
    std::string conninfo_;
    FetchLimits limits_;
    std::string sink_name_;
    std::string database_;       // oslo publisher_id "tablepub.<database>"
    std::int64_t position_ = 0;  // last batch confirmed and stored
    bool session_ok_ = false;    // the current session got as far as forwarding
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool wake_ = false;
    std::atomic<bool> stop_{false};
};

}  // namespace tablepub
