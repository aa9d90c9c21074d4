// One connection to a RabbitMQ broker (rabbitmq-c) that publishes to a
// topic exchange with publisher confirms: the forwarder stores a position
// only after wait_confirms() returned (docs/design.md, "RabbitMQ sink").
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common/error.hpp"

struct amqp_connection_state_t_;

namespace tablepub {

// The broker is unreachable, refused us, closed the channel, nacked a
// message or did not confirm in time: drop the connection and retry.
class AmqpError : public Error {
public:
    using Error::Error;
};

struct AmqpTarget {
    std::string url;  // amqp://user:password@host:port/vhost (rabbitmq-c's amqp_parse_url)
    std::string exchange;
    bool durable = true;  // exchange (and queue) survive a broker restart
    // A queue to declare and bind with routing key == its name, so that
    // messages published before any consumer bound a queue are kept (as
    // oslo.messaging's notifier does for "notifications.info"); empty: none.
    std::string queue;
    std::chrono::milliseconds timeout{10000};  // connect, login, declare
};

// The AMQP properties of one message.
struct AmqpMessageProperties {
    std::string_view content_type;
    std::string_view content_encoding;  // empty: not set
    std::string_view message_id;        // empty: not set
    // Headers table (protobuf format): "table" (longstr), "seq" and "txid"
    // (signed 64-bit; values above 2^63-1 cannot occur: seq and xid8 fit).
    bool with_headers = false;
    std::string_view table;
    std::uint64_t seq = 0;
    std::uint64_t txid = 0;
};

class AmqpSink {
public:
    // Connects, logs in, opens channel 1, declares the exchange (topic) and
    // the queue if any, and turns on publisher confirms. Throws AmqpError
    // (or ConfigError for a URL rabbitmq-c cannot parse).
    explicit AmqpSink(const AmqpTarget& target);
    AmqpSink(const AmqpSink&) = delete;
    AmqpSink& operator=(const AmqpSink&) = delete;
    ~AmqpSink();

    // Publishes one persistent message (delivery mode 2). Reads confirms
    // when more than CONFIRM_WINDOW are outstanding (waiting at most the
    // target's timeout), so neither side's buffers grow without bound.
    void publish(std::string_view routing_key, std::string_view body, const AmqpMessageProperties& props);
    // Returns once the broker confirmed every message published so far;
    // throws AmqpError on a nack, a closed channel or connection, or when
    // timeout passes first.
    void wait_confirms(std::chrono::milliseconds timeout);
    // Lets rabbitmq-c send and check heartbeats while nothing is published;
    // throws AmqpError when the connection is gone. Call with nothing
    // unconfirmed.
    void keepalive();
    [[nodiscard]] std::uint64_t unconfirmed() const noexcept { return published_ - confirmed_; }

    static constexpr std::uint64_t CONFIRM_WINDOW = 4096;

private:
    // Reads frames until the outstanding count is at most `target` or the
    // deadline passes (AmqpError).
    void read_confirms(std::uint64_t target, std::chrono::steady_clock::time_point deadline);
    void check_reply(const char* what);
    void on_ack(std::uint64_t tag, bool multiple);
    [[noreturn]] void fail(const std::string& message);

    amqp_connection_state_t_* conn_ = nullptr;
    std::string exchange_;
    std::chrono::milliseconds timeout_;    // for confirms read while publishing
    std::string where_;                    // host:port/vhost for messages
    bool broken_ = false;                  // after an error: no clean close
    std::uint64_t published_ = 0;          // delivery tags 1..published_ were sent
    std::uint64_t confirmed_ = 0;          // every tag up to this one is acked
    std::set<std::uint64_t> acked_above_;  // acked tags above confirmed_ (single acks out of order)
};

// The URL with its password replaced by "***", for logs.
[[nodiscard]] std::string redact_amqp_url(std::string_view url);

}  // namespace tablepub
