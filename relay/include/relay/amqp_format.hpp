// How a relay message goes to RabbitMQ in each --amqp-format
// (docs/protocol.md, "RabbitMQ").
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "relay/amqp_options.hpp"

namespace tablepub {

namespace v1 {
class Message;
}

class AmqpSink;

// "<prefix>.<schema>.<table>"
[[nodiscard]] std::string amqp_routing_key(std::string_view prefix, std::string_view schema_name,
                                           std::string_view table_name);

// The body of an oslo.messaging notification (message format 2.0, as the
// rabbit driver sends it): {"oslo.version": "2.0", "oslo.message": "<JSON
// text of message_id, publisher_id, event_type, priority, payload,
// timestamp, _unique_id>"}. payload is the change as tablepub-tail prints it
// (table, op, seq, txid, tx_last, schema_seq, key, values, old_key).
[[nodiscard]] std::string oslo_notification(const v1::Message& msg, std::string_view database,
                                            std::chrono::system_clock::time_point now);

// Publishes one serialized relay Message in the configured format.
class AmqpPublisher {
public:
    AmqpPublisher(const AmqpOptions& options, std::string database);
    void publish(AmqpSink& sink, std::string_view message);

private:
    AmqpFormat format_;
    std::string prefix_;
    std::string oslo_routing_key_;
    std::string database_;
    std::string key_;
};

}  // namespace tablepub
