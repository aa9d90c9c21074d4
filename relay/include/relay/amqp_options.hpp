// Configuration of the relay's RabbitMQ sink (--amqp and friends).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace tablepub {

// What goes to the broker: the ZeroMQ message bytes, or an oslo.messaging
// notification per change (docs/protocol.md, "RabbitMQ").
enum class AmqpFormat { protobuf, oslo };

struct AmqpOptions {
    std::string url;  // empty: no RabbitMQ sink
    AmqpFormat format = AmqpFormat::protobuf;
    // Defaults by format: "tablepub" (protobuf), "openstack" (oslo:
    // oslo.messaging's control_exchange).
    std::string exchange;
    // protobuf: routing key "<prefix>.<schema>.<table>".
    std::string routing_prefix = "tablepub";
    // oslo: notifications go with routing key "<topic>.info" (and to the
    // queue of that name, declared as oslo.messaging's notifier does).
    std::string oslo_topic = "notifications";
    // Exchange (and oslo queue) durability; default: yes for protobuf, no
    // for oslo (oslo.messaging's amqp_durable_queues = false). Must match
    // what the consumers declare, or the broker refuses the declaration.
    std::optional<bool> durable;
    // Connect/declare timeout, and how long a batch's confirms may take
    // before the connection is dropped and the batch sent again.
    std::chrono::milliseconds confirm_timeout{10000};

    [[nodiscard]] bool enabled() const noexcept { return !url.empty(); }
    [[nodiscard]] std::string effective_exchange() const;
    [[nodiscard]] bool effective_durable() const noexcept;
    // The key of the sink's position in tablepub.relay_amqp_position.
    [[nodiscard]] std::string sink_name() const;
};

// Adds --amqp, --amqp-format, --amqp-exchange, --amqp-routing-prefix,
// --amqp-oslo-topic, --amqp-durable, --amqp-confirm-timeout (each also
// read from TABLEPUB_AMQP...).
void add_amqp_options(CLI::App& app, AmqpOptions& o);

// Checks the combination after parsing; returns a one-line problem.
[[nodiscard]] std::optional<std::string> amqp_options_problem(const AmqpOptions& o);

}  // namespace tablepub
