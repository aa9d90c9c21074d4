// The RabbitMQ sink's pure parts (no broker): options, routing keys, the
// oslo.messaging envelope, the message header reader, and a sink refused
// by a port nobody listens on. tests/amqp/run.sh tests it with a broker.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/wire.hpp"
#include "relay/amqp_format.hpp"
#include "relay/amqp_sink.hpp"
#include "relay/relay_options.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

RelayParse parse(std::vector<std::string> args, std::string* err_text = nullptr) {
    std::ostringstream out, err;
    auto r = parse_relay_options(args, out, err);
    if (err_text) *err_text = err.str();
    return r;
}

TEST(AmqpOptions, OffByDefault) {
    const auto r = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r));
    EXPECT_FALSE(std::get<RelayOptions>(r).amqp.enabled());
}

TEST(AmqpOptions, ProtobufDefaults) {
    const auto r = parse({"--amqp", "amqp://u:p@h:5672/v"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r));
    const auto& a = std::get<RelayOptions>(r).amqp;
    EXPECT_TRUE(a.enabled());
    EXPECT_EQ(a.effective_exchange(), "tablepub");
    EXPECT_TRUE(a.effective_durable());
    EXPECT_EQ(a.routing_prefix, "tablepub");
    EXPECT_EQ(a.sink_name(), "protobuf:tablepub");
    EXPECT_EQ(a.confirm_timeout, 10000ms);
}

TEST(AmqpOptions, OsloDefaultsFollowOsloMessaging) {
    const auto r = parse({"--amqp", "amqp://h", "--amqp-format", "oslo"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r));
    const auto& a = std::get<RelayOptions>(r).amqp;
    EXPECT_EQ(a.effective_exchange(), "openstack");  // control_exchange
    EXPECT_FALSE(a.effective_durable());             // amqp_durable_queues
    EXPECT_EQ(a.oslo_topic, "notifications");
    EXPECT_EQ(a.sink_name(), "oslo:openstack");
}

TEST(AmqpOptions, Flags) {
    const auto r = parse({"--amqp", "amqp://h", "--amqp-exchange", "cdc", "--amqp-routing-prefix", "nova",
                          "--amqp-durable", "false", "--amqp-confirm-timeout", "2s"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r));
    const auto& a = std::get<RelayOptions>(r).amqp;
    EXPECT_EQ(a.effective_exchange(), "cdc");
    EXPECT_EQ(a.routing_prefix, "nova");
    EXPECT_FALSE(a.effective_durable());
    EXPECT_EQ(a.confirm_timeout, 2000ms);
}

TEST(AmqpOptions, BadUsageIsExitTwo) {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--amqp", "http://h"},
                                               {"--amqp", "amqps://h"},
                                               {"--amqp", "amqp://["},
                                               {"--amqp", "amqp://h", "--amqp-format", "json"},
                                               {"--amqp", "amqp://h", "--amqp-exchange", "amq.topic"},
                                               {"--amqp", "amqp://h", "--amqp-routing-prefix", ""},
                                               {"--amqp", "amqp://h", "--amqp-durable", "maybe"},
                                               {"--amqp", "amqp://h", "--amqp-confirm-timeout", "0"}}) {
        std::string err;
        const auto r = parse(args, &err);
        ASSERT_TRUE(std::holds_alternative<int>(r)) << args.back();
        EXPECT_EQ(std::get<int>(r), 2);
        EXPECT_NE(err.find("tablepub-relay: "), std::string::npos);
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
}

TEST(AmqpSinkTest, RedactsThePassword) {
    EXPECT_EQ(redact_amqp_url("amqp://guest:secret@h:5672/v"), "amqp://guest:***@h:5672/v");
    EXPECT_EQ(redact_amqp_url("amqp://h:5672/"), "amqp://h:5672/");
    EXPECT_EQ(redact_amqp_url("amqp://user@h"), "amqp://user@h");
}

TEST(AmqpSinkTest, UnreachableBrokerIsAnAmqpError) {
    // A port bound and not listening: the connection is refused at once.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    AmqpTarget t;
    t.url = "amqp://guest:guest@127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";
    t.exchange = "tablepub";
    t.timeout = 2000ms;
    EXPECT_THROW(AmqpSink{t}, AmqpError);
    t.url = "amqp://[";
    EXPECT_THROW(AmqpSink{t}, ConfigError);
    ::close(fd);
}

std::string sample_message(v1::Op op) {
    v1::Message m;
    m.set_schema_name("public");
    m.set_table_name("instances");
    m.set_seq(42);
    m.set_txid(7731);
    m.set_tx_last(true);
    m.set_schema_seq(1);
    auto* c = m.mutable_change();
    c->set_op(op);
    auto* k = c->add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(17);
    auto* v = c->add_values();
    v->set_name("vm_state");
    v->mutable_value()->set_text("active");
    return m.SerializeAsString();
}

TEST(AmqpFormat, PeekMessageHeaderReadsTheEnvelope) {
    const auto bytes = sample_message(v1::UPDATE);
    const auto h = peek_message_header(bytes);
    EXPECT_EQ(h.schema_name, "public");
    EXPECT_EQ(h.table_name, "instances");
    EXPECT_EQ(h.seq, 42u);
    EXPECT_EQ(h.txid, 7731u);
    EXPECT_TRUE(h.tx_last);
    EXPECT_EQ(h.schema_seq, 1u);
    EXPECT_THROW((void)peek_message_header(bytes.substr(0, bytes.size() - 3)), Error);
}

TEST(AmqpFormat, RoutingKey) { EXPECT_EQ(amqp_routing_key("tablepub", "public", "t"), "tablepub.public.t"); }

TEST(AmqpFormat, OsloNotificationIsTheRabbitDriversEnvelope) {
    v1::Message m;
    ASSERT_TRUE(m.ParseFromString(sample_message(v1::UPDATE)));
    const auto body = oslo_notification(m, "nova", std::chrono::system_clock::time_point(1764583331513201us));
    const auto outer = nlohmann::json::parse(body);
    ASSERT_EQ(outer.size(), 2u);
    EXPECT_EQ(outer.at("oslo.version"), "2.0");
    const auto inner = nlohmann::json::parse(outer.at("oslo.message").get<std::string>());
    EXPECT_EQ(inner.at("event_type"), "tablepub.public.instances.update");
    EXPECT_EQ(inner.at("publisher_id"), "tablepub.nova");
    EXPECT_EQ(inner.at("priority"), "INFO");
    EXPECT_EQ(inner.at("timestamp"), "2025-12-01 10:02:11.513201");
    EXPECT_EQ(inner.at("message_id"), "tablepub.nova/public.instances/42");
    EXPECT_EQ(inner.at("_unique_id"), inner.at("message_id"));
    const auto& p = inner.at("payload");
    EXPECT_EQ(p.at("table"), "public.instances");
    EXPECT_EQ(p.at("op"), "update");
    EXPECT_EQ(p.at("seq"), 42);
    EXPECT_EQ(p.at("txid"), 7731);
    EXPECT_EQ(p.at("key"), nlohmann::json({{"id", 17}}));
    EXPECT_EQ(p.at("values"), nlohmann::json({{"vm_state", "active"}}));
}

}  // namespace
}  // namespace tablepub
