#include <gtest/gtest.h>

#include "tablepub.pb.h"
#include "tablepub/reply_encoding.hpp"

using tablepub::ChunkEncoder;
namespace v1 = tablepub::v1;

namespace {

v1::Change row(std::int64_t id, const std::string& text)
{
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

TEST(ChunkEncoder, SnapshotRowsMatchProtobuf)
{
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

TEST(ChunkEncoder, ReplayMessagesMatchProtobuf)
{
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

TEST(ChunkEncoder, EmptyChunk)
{
    v1::Reply expected;
    expected.set_request_id(5);
    expected.mutable_snapshot_rows();
    ChunkEncoder enc(ChunkEncoder::Kind::snapshot_rows, 5);
    EXPECT_EQ(enc.finish(), expected.SerializeAsString());
}
