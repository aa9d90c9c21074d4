#include <gtest/gtest.h>

#include "sync/reply_encoding.hpp"
#include "tablepub.pb.h"

using tablepub::ChunkEncoder;
namespace v1 = tablepub::v1;

namespace {

v1::Change row(std::int64_t id, const std::string& text) {
    v1::Change c;
    c.set_op(v1::INSERT);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(id);
    auto* v = c.add_values();
    v->set_name("v");
    v->mutable_value()->set_text(text);
    return c;
}

}  // namespace

TEST(ChunkEncoder, SnapshotRowsMatchProtobuf) {
    v1::Reply expected;
    expected.set_request_id(300);  // a two-byte varint
    ChunkEncoder enc(ChunkEncoder::Kind::snapshot_rows, 300);
    for (int i = 0; i < 50; ++i) {
        auto r = row(i, std::string(static_cast<std::size_t>(i * 7), 'x'));
        *expected.mutable_snapshot_rows()->add_rows() = r;
        enc.add(r.SerializeAsString());
    }
    EXPECT_EQ(enc.count(), 50u);
    EXPECT_EQ(enc.finish(), expected.SerializeAsString());
    EXPECT_EQ(enc.count(), 0u);
}

TEST(ChunkEncoder, ReplayMessagesMatchProtobuf) {
    v1::Reply expected;
    expected.set_request_id(1);
    ChunkEncoder enc(ChunkEncoder::Kind::replay_messages, 1);
    for (std::uint64_t s = 1; s <= 3; ++s) {
        v1::Message m;
        m.set_schema_name("public");
        m.set_table_name("t");
        m.set_seq(s);
        m.set_txid(1000 + s);
        m.set_tx_last(true);
        *m.mutable_change() = row(static_cast<std::int64_t>(s), "a");
        *expected.mutable_replay_messages()->add_messages() = m;
        enc.add(m.SerializeAsString());
    }
    auto bytes = enc.finish();
    EXPECT_EQ(bytes, expected.SerializeAsString());
    v1::Reply parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    EXPECT_EQ(parsed.replay_messages().messages(2).seq(), 3u);
}

// Request ids and element sizes at each varint length: byte for byte what
// protobuf serializes for the parsed Reply.
TEST(ChunkEncoder, MatchesProtobufAtVarintBoundaries) {
    for (std::uint64_t id : {0ULL, 1ULL, 127ULL, 128ULL, 16384ULL, 1ULL << 35, 1ULL << 63, ~0ULL}) {
        for (auto kind : {ChunkEncoder::Kind::snapshot_rows, ChunkEncoder::Kind::replay_messages}) {
            v1::Reply expected;
            expected.set_request_id(id);
            ChunkEncoder enc(kind, id);
            for (std::size_t size : {0u, 1u, 120u, 130u, 16380u, 16390u, 2100000u}) {
                const auto r = row(static_cast<std::int64_t>(size), std::string(size, 'x'));
                if (kind == ChunkEncoder::Kind::snapshot_rows) {
                    *expected.mutable_snapshot_rows()->add_rows() = r;
                    enc.add(r.SerializeAsString());
                } else {
                    v1::Message m;
                    m.set_seq(id);
                    *m.mutable_change() = r;
                    *expected.mutable_replay_messages()->add_messages() = m;
                    enc.add(m.SerializeAsString());
                }
            }
            EXPECT_EQ(enc.finish(), expected.SerializeAsString()) << "id " << id;
        }
    }
}

TEST(ChunkEncoder, EmptyChunk) {
    v1::Reply expected;
    expected.set_request_id(5);
    expected.mutable_snapshot_rows();
    ChunkEncoder enc(ChunkEncoder::Kind::snapshot_rows, 5);
    EXPECT_EQ(enc.finish(), expected.SerializeAsString());
}

TEST(ChunkEncoder, ReplyBytesWithBoundsTheFinishedReply) {
    // request ids of every varint length, elements around varint boundaries
    for (std::uint64_t id : {1ULL, 300ULL, 1ULL << 40, ~0ULL}) {
        ChunkEncoder enc(ChunkEncoder::Kind::snapshot_rows, id);
        for (std::size_t size : {0u, 1u, 127u, 128u, 16383u, 16384u, 70000u}) {
            const auto element = row(1, std::string(size, 'r')).SerializeAsString();
            const auto bound = enc.reply_bytes_with(element.size());
            enc.add(element);
            EXPECT_GE(bound, enc.payload_bytes() + 2) << "id " << id << " size " << size;
        }
        const auto payload = enc.payload_bytes();
        const auto bound = enc.reply_bytes_with(0) - 2;  // without a further empty element
        const auto reply = enc.finish();
        EXPECT_LE(reply.size(), bound);
        EXPECT_GT(reply.size(), payload);
        v1::Reply parsed;
        ASSERT_TRUE(parsed.ParseFromString(reply));
        EXPECT_EQ(parsed.request_id(), id);
        EXPECT_EQ(parsed.snapshot_rows().rows_size(), 7);
    }
}
