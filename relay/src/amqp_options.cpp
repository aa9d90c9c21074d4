#include "relay/amqp_options.hpp"

#include <amqp.h>

#include <CLI/CLI.hpp>

#include <vector>

#include "relay/relay_options.hpp"

namespace tablepub {

std::string AmqpOptions::effective_exchange() const {
    if (!exchange.empty()) return exchange;
    return format == AmqpFormat::oslo ? "openstack" : "tablepub";
}

bool AmqpOptions::effective_durable() const noexcept { return durable.value_or(format == AmqpFormat::protobuf); }

std::string AmqpOptions::sink_name() const {
    // A sink is its format and exchange: pointing the relay at another
    // exchange starts a new sink (at the current position) rather than
    // continuing the old one's.
    return std::string(format == AmqpFormat::oslo ? "oslo" : "protobuf") + ":" + effective_exchange();
}

void add_amqp_options(CLI::App& app, AmqpOptions& o) {
    app.add_option("--amqp", o.url,
                   "RabbitMQ URL amqp://user:password@host:port/vhost: also publish every change there "
                   "(docs/protocol.md, RabbitMQ)")
        ->envname("TABLEPUB_AMQP")
        ->type_name("URL");
    app.add_option_function<std::string>(
           "--amqp-format",
           [&o](const std::string& v) {
               if (v == "protobuf") {
                   o.format = AmqpFormat::protobuf;
               } else if (v == "oslo") {
                   o.format = AmqpFormat::oslo;
               } else {
                   throw CLI::ValidationError("--amqp-format", "\"" + v + "\" is not protobuf or oslo");
               }
           },
           "protobuf: the ZeroMQ message bytes; oslo: oslo.messaging notifications (default protobuf)")
        ->envname("TABLEPUB_AMQP_FORMAT")
        ->type_name("FORMAT");
    app.add_option("--amqp-exchange", o.exchange,
                   "topic exchange to publish to (default tablepub; openstack with --amqp-format oslo)")
        ->envname("TABLEPUB_AMQP_EXCHANGE");
    app.add_option("--amqp-routing-prefix", o.routing_prefix,
                   "routing keys are <prefix>.<schema>.<table> (protobuf format)")
        ->envname("TABLEPUB_AMQP_ROUTING_PREFIX")
        ->capture_default_str();
    app.add_option("--amqp-oslo-topic", o.oslo_topic,
                   "oslo format: notification topic; routing key and queue <topic>.info")
        ->envname("TABLEPUB_AMQP_OSLO_TOPIC")
        ->capture_default_str();
    app.add_option_function<std::string>(
           "--amqp-durable",
           [&o](const std::string& v) {
               if (v == "true" || v == "on" || v == "yes" || v == "1") {
                   o.durable = true;
               } else if (v == "false" || v == "off" || v == "no" || v == "0") {
                   o.durable = false;
               } else {
                   throw CLI::ValidationError("--amqp-durable", "\"" + v + "\" is not true or false");
               }
           },
           "declare the exchange (and the oslo queue) durable; must match the consumers' declarations "
           "(default true; false with --amqp-format oslo, as oslo.messaging's amqp_durable_queues)")
        ->envname("TABLEPUB_AMQP_DURABLE")
        ->type_name("BOOL");
    app.add_option_function<std::string>(
           "--amqp-confirm-timeout",
           [&o](const std::string& v) {
               const auto d = parse_duration(v);
               if (!d || d->count() == 0) {
                   throw CLI::ValidationError("--amqp-confirm-timeout",
                                              "\"" + v + "\" is not a positive duration (e.g. 10s)");
               }
               o.confirm_timeout = *d;
           },
           "connect timeout, and most a batch's publisher confirms may take before the batch is sent again "
           "(default 10000ms)")
        ->envname("TABLEPUB_AMQP_CONFIRM_TIMEOUT")
        ->type_name("DURATION");
}

std::optional<std::string> amqp_options_problem(const AmqpOptions& o) {
    if (!o.enabled()) return std::nullopt;
    if (o.url.rfind("amqp://", 0) != 0) {
        return "--amqp must be an amqp:// URL (amqps is not supported)";
    }
    std::vector<char> buf(o.url.begin(), o.url.end());
    buf.push_back('\0');
    amqp_connection_info ci{};
    if (amqp_parse_url(buf.data(), &ci) != AMQP_STATUS_OK) {
        return "--amqp is not a valid URL (amqp://user:password@host:port/vhost)";
    }
    const auto ex = o.effective_exchange();
    if (ex.empty() || ex.size() > 127 || ex.rfind("amq.", 0) == 0) {
        return "--amqp-exchange must be 1 to 127 bytes and not start with \"amq.\"";
    }
    // Routing keys are AMQP short strings (255 bytes); names are at most
    // 63 bytes each.
    if (o.routing_prefix.empty() || o.routing_prefix.size() > 120) {
        return "--amqp-routing-prefix must be 1 to 120 bytes";
    }
    if (o.oslo_topic.empty() || o.oslo_topic.size() > 120) {
        return "--amqp-oslo-topic must be 1 to 120 bytes";
    }
    return std::nullopt;
}

}  // namespace tablepub
