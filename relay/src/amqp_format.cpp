#include "relay/amqp_format.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/wire.hpp"
#include "relay/amqp_sink.hpp"
#include "tablepub.pb.h"
#include "tail/tail_format.hpp"

namespace tablepub {

namespace {

// oslo.messaging's str(timeutils.utcnow()): "YYYY-MM-DD HH:MM:SS.ffffff".
std::string oslo_timestamp(std::chrono::system_clock::time_point now) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    std::string out(buf, n);
    const auto frac = std::to_string(1'000'000 + us % 1'000'000);  // "1" and six digits
    return out + "." + frac.substr(1);
}

}  // namespace

std::string amqp_routing_key(std::string_view prefix, std::string_view schema_name, std::string_view table_name) {
    std::string k;
    k.reserve(prefix.size() + schema_name.size() + table_name.size() + 2);
    k.append(prefix).append(".").append(schema_name).append(".").append(table_name);
    return k;
}

std::string oslo_notification(const v1::Message& msg, std::string_view database,
                              std::chrono::system_clock::time_point now) {
    const std::string topic = make_topic(msg.schema_name(), msg.table_name());
    nlohmann::json payload = nlohmann::json::parse(message_json(topic, msg, BytesFormat::base64));
    const std::string op = payload.value("op", std::string("unknown"));
    // Deterministic ids: a message sent again after a crash carries the
    // same ones (oslo.messaging's listener also drops a _unique_id it saw
    // among its last 16 messages).
    const std::string id = "tablepub." + std::string(database) + "/" + topic + "/" + std::to_string(msg.seq());
    const nlohmann::json inner = {
        {"message_id", id},
        {"publisher_id", "tablepub." + std::string(database)},
        {"event_type", "tablepub." + topic + "." + op},
        {"priority", "INFO"},
        {"payload", std::move(payload)},
        {"timestamp", oslo_timestamp(now)},
        {"_unique_id", id},
    };
    const nlohmann::json outer = {
        {"oslo.version", "2.0"},
        {"oslo.message", inner.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)},
    };
    return outer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

AmqpPublisher::AmqpPublisher(const AmqpOptions& options, std::string database)
    : format_(options.format),
      prefix_(options.routing_prefix),
      oslo_routing_key_(options.oslo_topic + ".info"),
      database_(std::move(database)) {}

void AmqpPublisher::publish(AmqpSink& sink, std::string_view message) {
    if (format_ == AmqpFormat::protobuf) {
        const MessageHeader h = peek_message_header(message);
        // A Transaction message (no names: no table's) goes to "<prefix>.tx".
        const bool transaction = h.schema_name.empty() && h.table_name.empty();
        key_ = transaction ? prefix_ + std::string(TRANSACTION_TOPIC)
                           : amqp_routing_key(prefix_, h.schema_name, h.table_name);
        const std::string table =
            transaction ? std::string(TRANSACTION_TOPIC) : make_topic(h.schema_name, h.table_name);
        AmqpMessageProperties p;
        p.content_type = "application/x-protobuf; proto=tablepub.v1.Message";
        p.with_headers = true;
        p.table = table;
        p.seq = h.seq;
        p.txid = h.txid;
        sink.publish(key_, message, p);
        return;
    }
    v1::Message msg;
    if (!msg.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
        throw Error("cannot parse a relay message for the oslo format");
    }
    // oslo.messaging notifications are about tables: no Transaction ones.
    if (msg.has_transaction()) return;
    const std::string body = oslo_notification(msg, database_, std::chrono::system_clock::now());
    AmqpMessageProperties p;
    p.content_type = "application/json";
    p.content_encoding = "utf-8";
    sink.publish(oslo_routing_key_, body, p);
}

}  // namespace tablepub
