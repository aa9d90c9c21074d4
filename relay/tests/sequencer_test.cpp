#include <gtest/gtest.h>

#include <map>

#include "relay/sequencer.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

std::string change(v1::Op op, std::int64_t id = 0) {
    v1::Change c;
    c.set_op(op);
    if (id) {
        auto* k = c.add_key();
        k->set_name("id");
        k->mutable_value()->set_integer(id);
    }
    return c.SerializeAsString();
}

std::string schema_change(const std::string& schema, const std::string& table) {
    v1::Change c;
    c.set_op(v1::SCHEMA);
    c.mutable_schema()->set_schema_name(schema);
    c.mutable_schema()->set_table_name(table);
    auto* col = c.mutable_schema()->add_columns();
    col->set_name("id");
    col->set_key_position(1);
    return c.SerializeAsString();
}

struct Sent {
    std::string topic;
    v1::Message msg;
    std::string raw;
};

class SequencerTest : public ::testing::Test {
protected:
    Sequencer make() {
        return Sequencer(
            [this](std::string_view topic, std::string_view body) {
                Sent s{std::string(topic), {}, std::string(body)};
                EXPECT_TRUE(s.msg.ParseFromString(s.raw));
                sent.push_back(std::move(s));
            },
            [this](std::uint32_t relid) {
                ++lookups;
                return std::pair<std::string, std::string>{"cat", "t" + std::to_string(relid)};
            });
    }
    std::vector<Sent> sent;
    int lookups = 0;
};

TEST_F(SequencerTest, SeqPerTableAndTxLastPerTransactionAndTable) {
    auto seq = make();
    seq.load({StreamState{1, "public", "a", 10, 1, "", true}, StreamState{2, "public", "b", 0, 0, "", true}});
    seq.begin_batch();
    seq.add(1, 100, change(v1::INSERT, 1));
    seq.add(2, 100, change(v1::INSERT, 1));
    seq.add(1, 100, change(v1::INSERT, 2));
    seq.add(1, 101, change(v1::UPDATE, 1));
    seq.end_batch();

    ASSERT_EQ(sent.size(), 4u);
    // held-back: a1 is sent when a2 arrives; a2 and b1 (in first-touched
    // order) when tx 100 ends
    EXPECT_EQ(sent[0].topic, "public.a");
    EXPECT_EQ(sent[0].msg.seq(), 11u);
    EXPECT_FALSE(sent[0].msg.tx_last());
    EXPECT_EQ(sent[0].msg.schema_seq(), 1u);
    EXPECT_EQ(sent[1].topic, "public.a");
    EXPECT_EQ(sent[1].msg.seq(), 12u);
    EXPECT_TRUE(sent[1].msg.tx_last());
    EXPECT_EQ(sent[1].msg.txid(), 100u);
    EXPECT_EQ(sent[2].topic, "public.b");
    EXPECT_EQ(sent[2].msg.seq(), 1u);
    EXPECT_TRUE(sent[2].msg.tx_last());
    EXPECT_EQ(sent[3].msg.seq(), 13u);
    EXPECT_EQ(sent[3].msg.txid(), 101u);
    EXPECT_TRUE(sent[3].msg.tx_last());
    EXPECT_EQ(sent[3].msg.change().op(), v1::UPDATE);

    const auto updates = seq.batch_updates();
    ASSERT_EQ(updates.size(), 2u);
    EXPECT_EQ(updates[0].state.relid, 1u);
    EXPECT_EQ(updates[0].first_seq, 11u);
    EXPECT_EQ(updates[0].state.last_seq, 13u);
    EXPECT_EQ(updates[0].prev_schema_seq, 1u);
    EXPECT_EQ(updates[1].first_seq, 1u);
    EXPECT_EQ(updates[1].state.last_seq, 1u);
    EXPECT_EQ(lookups, 0);
}

TEST_F(SequencerTest, SentSeqNeverAnnouncesAHeldBackMessage) {
    auto seq = make();
    seq.load({StreamState{1, "public", "a", 5, 1, "", true}});
    seq.begin_batch();
    seq.add(1, 100, change(v1::INSERT, 1));
    EXPECT_EQ(seq.sent_seq(1), 5u);
    seq.add(1, 100, change(v1::INSERT, 2));
    EXPECT_EQ(seq.sent_seq(1), 6u);
    seq.end_batch();
    EXPECT_EQ(seq.sent_seq(1), 7u);
}

TEST_F(SequencerTest, SchemaRenamesTheTopicAndSetsSchemaSeq) {
    auto seq = make();
    seq.begin_batch();
    seq.add(5, 100, schema_change("public", "old"));
    seq.add(5, 100, change(v1::INSERT, 1));
    seq.add(5, 101, change(v1::INSERT, 2));
    seq.add(5, 102, schema_change("app", "new"));
    seq.add(5, 103, change(v1::DELETE, 1));
    seq.add(5, 104, change(v1::UNPUBLISH));
    seq.end_batch();
    ASSERT_EQ(sent.size(), 6u);
    EXPECT_EQ(lookups, 1);  // a first message that is a SCHEMA still asks once
    EXPECT_EQ(sent[0].topic, "public.old");
    EXPECT_EQ(sent[0].msg.schema_seq(), 1u);
    EXPECT_FALSE(sent[0].msg.tx_last());
    EXPECT_EQ(sent[1].msg.schema_seq(), 1u);
    EXPECT_TRUE(sent[1].msg.tx_last());
    EXPECT_EQ(sent[3].topic, "app.new");
    EXPECT_EQ(sent[3].msg.seq(), 4u);
    EXPECT_EQ(sent[3].msg.schema_seq(), 4u);
    EXPECT_EQ(sent[3].msg.change().schema().table_name(), "new");
    EXPECT_EQ(sent[4].topic, "app.new");
    EXPECT_EQ(sent[4].msg.schema_seq(), 4u);
    EXPECT_EQ(sent[5].msg.change().op(), v1::UNPUBLISH);
    const auto updates = seq.batch_updates();
    ASSERT_EQ(updates.size(), 1u);
    EXPECT_EQ(updates[0].prev_schema_seq, 0u);  // before the batch's first SCHEMA
    EXPECT_EQ(updates[0].first_seq, 1u);
    const auto& s = seq.streams().at(5);
    EXPECT_FALSE(s.published);
    EXPECT_EQ(s.schema_seq, 4u);
    EXPECT_EQ(s.last_seq, 6u);
    v1::TableSchema ts;
    ASSERT_TRUE(ts.ParseFromString(s.schema));
    EXPECT_EQ(ts.schema_name(), "app");
}

// Renamed there and back in one transaction (a -> b -> a): a was never
// left as far as anyone can see, so only b's move is announced; renamed
// on (a -> b -> c), a's notice names c.
TEST_F(SequencerTest, MovesUndoneBeforeTheyAreTakenAreNotAnnounced) {
    auto seq = make();
    seq.load({StreamState{1, "public", "a", 4, 1, "", true}, StreamState{2, "public", "x", 1, 1, "", true}});
    seq.begin_batch();
    seq.add(1, 100, schema_change("public", "b"));  // seq 5
    seq.add(1, 100, change(v1::INSERT, 1));         // 6
    seq.add(1, 100, schema_change("public", "a"));  // 7
    seq.add(1, 100, change(v1::INSERT, 2));         // 8
    seq.add(2, 100, schema_change("public", "y"));  // x: seq 2
    seq.add(2, 100, schema_change("public", "z"));  // 3
    seq.add(2, 100, change(v1::INSERT, 1));         // 4
    seq.end_batch();
    auto moves = seq.take_new_moves();
    std::map<std::string, TopicMove> by_topic;
    for (auto& m : moves) by_topic[m.schema_name + "." + m.table_name] = m;
    ASSERT_EQ(moves.size(), 3u);
    EXPECT_FALSE(by_topic.contains("public.a"));
    EXPECT_EQ(by_topic.at("public.b").to_table, "a");
    EXPECT_EQ(by_topic.at("public.b").seq, 7u);
    EXPECT_EQ(by_topic.at("public.x").to_table, "z");
    EXPECT_EQ(by_topic.at("public.x").seq, 2u);
    EXPECT_EQ(by_topic.at("public.y").to_table, "z");
    EXPECT_EQ(by_topic.at("public.y").seq, 3u);
}

// A rename records the former topic with the seq of the SCHEMA message
// that left it, once that message was sent; former topics follow further
// renames, and a topic the table takes back is no longer a former one.
TEST_F(SequencerTest, RenamesRecordFormerTopics) {
    auto seq = make();
    seq.load({StreamState{1, "public", "a", 4, 1, "", true}});
    seq.begin_batch();
    seq.add(1, 100, schema_change("public", "b"));  // seq 5
    EXPECT_TRUE(seq.moves().empty()) << "held back: not sent yet";
    seq.add(1, 100, change(v1::INSERT, 1));  // 6
    ASSERT_EQ(seq.moves().size(), 1u);
    const auto& m = seq.moves().at("public.a");
    EXPECT_EQ(m.relid, 1u);
    EXPECT_EQ(m.to_schema, "public");
    EXPECT_EQ(m.to_table, "b");
    EXPECT_EQ(m.seq, 5u);
    seq.add(1, 101, schema_change("other", "c"));  // 7
    seq.add(1, 101, schema_change("other", "c"));  // 8: not a move
    seq.end_batch();
    ASSERT_EQ(seq.moves().size(), 2u);
    EXPECT_EQ(seq.moves().at("public.a").to_table, "c");
    EXPECT_EQ(seq.moves().at("public.a").seq, 5u);
    EXPECT_EQ(seq.moves().at("public.b").to_schema, "other");
    EXPECT_EQ(seq.moves().at("public.b").seq, 7u);
    EXPECT_EQ(seq.take_new_moves().size(), 2u);
    EXPECT_TRUE(seq.take_new_moves().empty());

    seq.load({StreamState{1, "other", "c", 8, 8, "", true}});  // kept across a reload
    seq.begin_batch();
    seq.add(1, 102, schema_change("public", "a"));  // 9: back to its first name
    seq.end_batch();
    ASSERT_EQ(seq.moves().size(), 2u);
    EXPECT_FALSE(seq.moves().contains("public.a"));
    EXPECT_EQ(seq.moves().at("public.b").to_table, "a");
    EXPECT_EQ(seq.moves().at("other.c").seq, 9u);
    // A stream's first SCHEMA names it; nothing moved.
    seq.begin_batch();
    seq.add(2, 103, schema_change("public", "new"));
    seq.end_batch();
    EXPECT_EQ(seq.moves().size(), 2u);
}

TEST_F(SequencerTest, UnknownTableIsNamedByTheResolver) {
    auto seq = make();
    seq.begin_batch();
    seq.add(77, 100, change(v1::INSERT, 1));
    seq.end_batch();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].topic, "cat.t77");
    EXPECT_EQ(sent[0].msg.schema_seq(), 0u);
    EXPECT_EQ(lookups, 1);
}

TEST_F(SequencerTest, RedoingABatchFromTheSameStateGivesIdenticalBytes) {
    const std::vector<StreamState> state{StreamState{1, "public", "a", 3, 1, "", true}};
    auto run = [&] {
        auto seq = make();
        seq.load(state);
        seq.begin_batch();
        for (std::uint64_t tx = 200; tx < 210; ++tx) {
            for (int r = 0; r < 3; ++r) seq.add(1 + (r % 2), tx, change(v1::INSERT, static_cast<int>(tx) * 10 + r));
        }
        seq.end_batch();
    };
    run();
    auto first = std::move(sent);
    sent.clear();
    run();
    ASSERT_EQ(first.size(), sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(first[i].topic, sent[i].topic);
        EXPECT_EQ(first[i].raw, sent[i].raw);
    }
}

// A change read on its own (with headroom) gives the same bytes as one
// read inline; the sink may take its buffer, and the sequencer keeps going.
TEST_F(SequencerTest, LargeChangeInItsOwnBufferGivesIdenticalBytes) {
    std::vector<std::string> taken;
    auto run = [&](bool headroom, bool take) {
        Sequencer seq(
            [&](std::string_view topic, HeadroomBuffer& body) {
                Sent s{std::string(topic), {}, std::string(body.view())};
                EXPECT_TRUE(s.msg.ParseFromString(s.raw));
                sent.push_back(std::move(s));
                if (take) taken.push_back(std::move(body.bytes));
            },
            [](std::uint32_t) {
                return std::pair<std::string, std::string>{"cat", "t"};
            });
        seq.load({StreamState{1, "public", "a", 3, 1, "", true}});
        seq.begin_batch();
        for (int r = 0; r < 4; ++r) {
            const std::string c = change(v1::INSERT, r + 1);
            if (headroom && r % 2 == 0) {
                HeadroomBuffer b;
                b.bytes.assign(MESSAGE_HEADROOM, 'x');  // garbage the envelope overwrites
                b.bytes += c;
                b.offset = MESSAGE_HEADROOM;
                seq.add(1, 100, std::move(b));
            } else {
                seq.add(1, 100, c);
            }
        }
        seq.end_batch();
    };
    run(false, false);
    auto inline_only = std::move(sent);
    sent.clear();
    run(true, true);
    ASSERT_EQ(inline_only.size(), 4u);
    ASSERT_EQ(sent.size(), 4u);
    for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(inline_only[i].raw, sent[i].raw) << i;
    EXPECT_TRUE(sent[3].msg.tx_last());
    EXPECT_FALSE(sent[0].msg.tx_last());
    EXPECT_EQ(taken.size(), 4u);
}

TEST_F(SequencerTest, MalformedChangeThrows) {
    auto seq = make();
    seq.begin_batch();
    EXPECT_ANY_THROW(seq.add(1, 1, std::string("\x12\x7f", 2)));
}

}  // namespace
}  // namespace tablepub
