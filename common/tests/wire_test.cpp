#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/wire.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

v1::Change sample_change() {
    v1::Change c;
    c.set_op(v1::UPDATE);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(-42);
    auto* v = c.add_values();
    v->set_name("name");
    v->mutable_value()->set_text("h\xC3\xA9llo \"x\"");
    auto* n = c.add_values();
    n->set_name("gone");
    n->mutable_value()->set_null(v1::NULL_VALUE);
    return c;
}

TEST(Wire, EmbeddedChangeIsByteIdenticalToProtobuf) {
    const auto change = sample_change().SerializeAsString();
    std::string out;
    MessageHeader h{"public", "instances", 7, 1234567890123ULL, true, 3};
    encode_change_message(out, h, change);

    v1::Message expected;
    expected.set_schema_name("public");
    expected.set_table_name("instances");
    expected.set_seq(7);
    expected.set_txid(1234567890123ULL);
    expected.set_tx_last(true);
    expected.set_schema_seq(3);
    *expected.mutable_change() = sample_change();
    EXPECT_EQ(out, expected.SerializeAsString());

    v1::Message parsed;
    ASSERT_TRUE(parsed.ParseFromString(out));
    EXPECT_EQ(parsed.change().values(0).value().text(), "h\xC3\xA9llo \"x\"");
    EXPECT_TRUE(parsed.change().values(1).value().has_null());
}

TEST(Wire, EnvelopeIsTheMessageBeforeTheChange) {
    const auto change = sample_change().SerializeAsString();
    const MessageHeader h{"public", "instances", 300, 1ULL << 40, false, 2};
    std::string whole, envelope;
    encode_change_message(whole, h, change);
    encode_message_envelope(envelope, h, change.size());
    EXPECT_EQ(envelope + change, whole);
    EXPECT_LE(envelope.size(), MESSAGE_HEADROOM);
}

// Every header field and the change length at each varint length (1 to 10
// bytes), names up to the 255 bytes MESSAGE_HEADROOM allows: the envelope
// plus the change is what protobuf serializes for the parsed message.
TEST(Wire, EnvelopeMatchesProtobufAtVarintBoundaries) {
    const std::uint64_t numbers[] = {0,          1,          127,        128,        16383, 16384, (1ULL << 21) - 1,
                                     1ULL << 21, 1ULL << 35, 1ULL << 56, 1ULL << 63, ~0ULL};
    const std::string names[] = {"", "t", std::string(127, 'n'), std::string(128, 'n'), std::string(255, 'n')};
    const std::size_t change_sizes[] = {0, 1, 127, 128, 16384, 1 << 21};
    std::size_t i = 0;
    for (const auto n : numbers) {
        for (const auto& name : names) {
            const auto size = change_sizes[i++ % std::size(change_sizes)];
            v1::Change c;
            c.set_reason(std::string(size, 'r'));
            const auto change = c.SerializeAsString();
            const MessageHeader h{name, std::string_view(name).substr(name.size() / 2), n, n / 3, (n & 1) != 0, n / 7};
            std::string envelope;
            encode_message_envelope(envelope, h, change.size());
            EXPECT_LE(envelope.size(), MESSAGE_HEADROOM);

            v1::Message expected;
            expected.set_schema_name(std::string(h.schema_name));
            expected.set_table_name(std::string(h.table_name));
            expected.set_seq(h.seq);
            expected.set_txid(h.txid);
            expected.set_tx_last(h.tx_last);
            expected.set_schema_seq(h.schema_seq);
            *expected.mutable_change() = c;
            EXPECT_EQ(envelope + change, expected.SerializeAsString()) << "n " << n << " name " << name.size();
        }
    }
}

TEST(Wire, OversizedChangeIsADeterministicResync) {
    const auto a = oversized_change("public", "big", 1234, 314572800, 268435456);
    EXPECT_EQ(a, oversized_change("public", "big", 1234, 314572800, 268435456));
    v1::Change c;
    ASSERT_TRUE(c.ParseFromString(a));
    EXPECT_EQ(c.op(), v1::RESYNC);
    EXPECT_EQ(c.reason(),
              "a change of table public.big in transaction 1234 is 314572800 bytes, over the relay's limit of "
              "268435456 bytes (--max-change-bytes)");
    EXPECT_EQ(peek_op(a), ChangeOp::resync);
}

TEST(Wire, DefaultsAreLeftOutButEmptyChangeIsKept) {
    std::string out;
    encode_change_message(out, MessageHeader{"s", "t", 1, 0, false, 0}, "");
    v1::Message parsed;
    ASSERT_TRUE(parsed.ParseFromString(out));
    EXPECT_TRUE(parsed.has_change());
    EXPECT_FALSE(parsed.tx_last());
    EXPECT_EQ(parsed.txid(), 0u);
}

TEST(Wire, PeekOpFindsTheOpAnywhere) {
    EXPECT_EQ(peek_op(sample_change().SerializeAsString()), ChangeOp::update);
    v1::Change truncate;
    truncate.set_op(v1::TRUNCATE);
    EXPECT_EQ(peek_op(truncate.SerializeAsString()), ChangeOp::truncate);
    // op written after other fields (another encoder's order)
    std::string reordered = sample_change().SerializeAsString().substr(2);
    reordered += std::string("\x08\x05", 2);
    EXPECT_EQ(peek_op(reordered), ChangeOp::schema);
    EXPECT_EQ(peek_op(""), ChangeOp::unspecified);
    v1::Change schema;
    schema.set_op(v1::SCHEMA);
    schema.mutable_schema()->set_table_name("t");
    EXPECT_EQ(peek_op(schema.SerializeAsString()), ChangeOp::schema);
}

TEST(Wire, PeekOpRejectsMalformedInput) {
    EXPECT_THROW((void)peek_op(std::string("\x12\x05\x01", 3)), Error);  // length beyond the end
    EXPECT_THROW((void)peek_op(std::string("\x08", 1)), Error);          // truncated varint
    EXPECT_THROW((void)peek_op(std::string("\x0b", 1)), Error);          // group wire type
}

TEST(Wire, Heartbeat) {
    v1::Message m;
    ASSERT_TRUE(m.ParseFromString(encode_heartbeat("public", "t", 99, 4, 5000)));
    EXPECT_TRUE(m.has_heartbeat());
    EXPECT_EQ(m.seq(), 99u);
    EXPECT_EQ(m.schema_seq(), 4u);
    EXPECT_EQ(m.txid(), 0u);
    EXPECT_EQ(m.heartbeat().interval_ms(), 5000u);
    EXPECT_EQ(make_topic("public", "t"), "public.t");
}

}  // namespace
}  // namespace tablepub
