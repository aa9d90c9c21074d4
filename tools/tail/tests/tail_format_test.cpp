#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tablepub.pb.h"
#include "tail/tail_format.hpp"

#include <nlohmann/json.hpp>

namespace tablepub {
namespace {

v1::Value val() { return v1::Value(); }

// The printed value or message, parsed back by a real JSON parser.
nlohmann::json value_to_json(const v1::Value& v, BytesFormat bytes) {
    return nlohmann::json::parse(value_json(v, bytes));
}
nlohmann::json message_to_json(std::string_view topic, const v1::Message& m, BytesFormat bytes) {
    return nlohmann::json::parse(message_json(topic, m, bytes));
}

TEST(TailFormat, ScalarValues) {
    auto v = val();
    v.set_integer(std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(value_json(v, BytesFormat::base64), "9223372036854775807");
    v.set_integer(-5);
    EXPECT_EQ(value_json(v, BytesFormat::base64), "-5");
    v.set_real(1.5);
    EXPECT_EQ(value_json(v, BytesFormat::base64), "1.5");
    v.set_real(std::nan(""));
    EXPECT_EQ(value_json(v, BytesFormat::base64), "\"NaN\"");
    v.set_real(-std::numeric_limits<double>::infinity());
    EXPECT_EQ(value_json(v, BytesFormat::base64), "\"-Infinity\"");
    v.set_null(v1::NULL_VALUE);
    EXPECT_EQ(value_json(v, BytesFormat::base64), "null");
    v.set_boolean(false);
    EXPECT_EQ(value_json(v, BytesFormat::base64), "false");
    v.set_text("a\"b\n\xC3\xA9");
    EXPECT_EQ(value_json(v, BytesFormat::base64), "\"a\\\"b\\n\xC3\xA9\"");
    v.set_numeric("12345678901234567890.0001");
    EXPECT_EQ(value_json(v, BytesFormat::base64), "\"12345678901234567890.0001\"");
}

TEST(TailFormat, Bytes) {
    auto v = val();
    v.set_binary(std::string("\x00\xff\x10", 3));
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "AP8Q");
    EXPECT_EQ(value_to_json(v, BytesFormat::hex), "\\x00ff10");
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
}

TEST(TailFormat, TimesDatesIntervalsUuidJson) {
    auto v = val();
    v.set_timestamp(0);
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "1970-01-01T00:00:00.000000Z");
    v.set_timestamp(1'700'000'000'123'456);
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "2023-11-14T22:13:20.123456Z");
    v.set_timestamp(-1);
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "1969-12-31T23:59:59.999999Z");
    v.set_timestamp(std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "infinity");
    v.set_local_timestamp(86'400'000'000);
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "1970-01-02T00:00:00.000000");
    v.set_date(19'000);
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "2022-01-08");
    v.set_date(std::numeric_limits<std::int32_t>::min());
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "-infinity");
    v.mutable_interval()->set_months(14);
    v.mutable_interval()->set_days(-3);
    v.mutable_interval()->set_microseconds(1'000'001);
    EXPECT_EQ(value_json(v, BytesFormat::base64), R"({"days":-3,"microseconds":1000001,"months":14})");
    v.set_uuid(std::string("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0", 16));
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "12345678-9abc-def0-1234-56789abcdef0");
    v.set_json(R"({"a": [1, 2]})");
    EXPECT_EQ(value_json(v, BytesFormat::base64), R"({"a":[1,2]})");
    v.set_json("not json");
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "not json");
    v.set_other("{1,2}");
    EXPECT_EQ(value_to_json(v, BytesFormat::base64), "{1,2}");
}

TEST(TailFormat, UpdateMessage) {
    v1::Message m;
    m.set_seq(12);
    m.set_txid(900);
    m.set_tx_last(true);
    m.set_schema_seq(1);
    auto* c = m.mutable_change();
    c->set_op(v1::UPDATE);
    auto* k = c->add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(2);
    auto* ok = c->add_old_key();
    ok->set_name("id");
    ok->mutable_value()->set_integer(1);
    auto* v = c->add_values();
    v->set_name("name");
    v->mutable_value()->set_null(v1::NULL_VALUE);
    EXPECT_EQ(
        message_json("public.t", m, BytesFormat::base64),
        R"({"key":{"id":2},"old_key":{"id":1},"op":"update","schema_seq":1,"seq":12,"table":"public.t","tx_last":true,"txid":900,"values":{"name":null}})");
}

TEST(TailFormat, OtherMessages) {
    v1::Message m;
    m.set_seq(3);
    m.mutable_change()->set_op(v1::TRUNCATE);
    auto j = message_to_json("s.t", m, BytesFormat::base64);
    EXPECT_EQ(j["op"], "truncate");
    EXPECT_FALSE(j.contains("key"));
    EXPECT_FALSE(j.contains("old_key"));

    m.mutable_change()->set_op(v1::INSERT);
    j = message_to_json("s.t", m, BytesFormat::base64);
    EXPECT_FALSE(j.contains("old_key"));
    EXPECT_TRUE(j["values"].is_object());

    m.mutable_change()->set_op(v1::SCHEMA);
    auto* col = m.mutable_change()->mutable_schema()->add_columns();
    col->set_name("id");
    col->set_type("bigint");
    col->set_key_position(1);
    j = message_to_json("s.t", m, BytesFormat::base64);
    EXPECT_EQ(j["schema"]["columns"][0]["type"], "bigint");

    v1::Message hb;
    hb.set_seq(8);
    hb.mutable_heartbeat()->set_interval_ms(5000);
    j = message_to_json("s.t", hb, BytesFormat::base64);
    EXPECT_EQ(j["op"], "heartbeat");
    EXPECT_EQ(j["seq"], 8);
}

TEST(TailFormat, RawText) {
    auto v = val();
    v.set_raw_text(std::string("caf\xe9\x00", 5));
    EXPECT_EQ(value_json(v, BytesFormat::base64), R"({"raw_text":"Y2Fm6QA="})");
    EXPECT_EQ(value_json(v, BytesFormat::hex), R"({"raw_text":"\\x636166e900"})");
    EXPECT_EQ(hex_encode(""), "\\x");
}

TEST(TailFormat, ResyncAndHeartbeatFlags) {
    v1::Message m;
    m.set_seq(9);
    m.set_txid(77);
    m.mutable_change()->set_op(v1::RESYNC);
    m.mutable_change()->set_reason("partition detached");
    EXPECT_EQ(
        message_json("s.t", m, BytesFormat::base64),
        R"({"op":"resync","reason":"partition detached","schema_seq":0,"seq":9,"table":"s.t","tx_last":false,"txid":77})");

    v1::Message hb;
    hb.set_seq(4);
    hb.mutable_heartbeat()->set_interval_ms(1000);
    auto j = message_to_json("s.t", hb, BytesFormat::base64);
    EXPECT_FALSE(j.contains("unpublished"));
    EXPECT_FALSE(j.contains("moved_to"));
    hb.mutable_heartbeat()->set_unpublished(true);
    EXPECT_EQ(message_to_json("s.t", hb, BytesFormat::base64)["unpublished"], true);
    hb.mutable_heartbeat()->set_unpublished(false);
    hb.mutable_heartbeat()->set_moved_to_schema("s");
    hb.mutable_heartbeat()->set_moved_to_table("u.v");
    EXPECT_EQ(message_to_json("s.t", hb, BytesFormat::base64)["moved_to"], "s.u.v");
}

// Regression: a json value nested 100k deep (PostgreSQL's json accepts
// thousands of levels, more with a larger max_stack_depth) overflowed the
// stack while printing and killed the tail. It now prints as its text.
TEST(TailFormat, DeeplyNestedJsonPrintsAsText) {
    auto v = val();
    const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
    v.set_json(deep);
    EXPECT_EQ(value_json(v, BytesFormat::base64), '"' + deep + '"');
    const std::string ok = std::string(max_json_depth, '[') + std::string(max_json_depth, ']');
    v.set_json(ok);
    EXPECT_EQ(value_json(v, BytesFormat::base64), ok);
    v.set_json(R"({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"[[[["})");
    EXPECT_TRUE(value_to_json(v, BytesFormat::base64).is_object());
}

// A topic frame is raw bytes from the network: a non-UTF-8 one prints
// (replaced) instead of throwing out of the tail's loop.
TEST(TailFormat, NonUtf8TopicDoesNotThrow) {
    v1::Message hb;
    hb.mutable_heartbeat();
    const auto line = message_json(std::string("s.\xff", 3), hb, BytesFormat::base64);
    EXPECT_NE(line.find("s.\xef\xbf\xbd"), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(line)["table"], "s.\xef\xbf\xbd");
}

}  // namespace
}  // namespace tablepub
