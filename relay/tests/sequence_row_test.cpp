// sequence_row: how one outbox row becomes messages (relay, RabbitMQ
// forwarder and replay alike): a pack's changes numbered exactly as plain
// rows' would be, a malformed pack replaced by one RESYNC. No database.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pack_writer.hpp"
#include "relay/batch_reader.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

std::string change(v1::Op op, std::int64_t id) {
    v1::Change c;
    c.set_op(op);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(id);
    return c.SerializeAsString();
}

// One outbox row of a batch.
struct Row {
    std::uint32_t relid;
    std::uint64_t txid;
    std::string bytes;
};

// The messages (topic + serialized Message) and Transaction ends a batch of
// rows makes, each row through sequence_row.
struct Published {
    std::vector<std::string> messages;
    std::vector<std::string> transactions;
    std::vector<RowOutcome> outcomes;
};

Published publish(const std::vector<Row>& rows) {
    Published out;
    Sequencer seq([&](std::string_view topic,
                      std::string_view body) { out.messages.push_back(std::string(topic) + " " + std::string(body)); },
                  [](std::uint32_t relid) {
                      return std::pair<std::string, std::string>{"public", "t" + std::to_string(relid)};
                  },
                  [&](const TransactionEnd& tx) {
                      std::string m;
                      encode_transaction_message(m, tx.position, tx.txid, tx.commit_time, tx.tables.data(),
                                                 tx.tables.size());
                      out.transactions.push_back(m);
                  });
    seq.load({}, 41);
    seq.begin_batch(1'700'000'000'000'000);
    for (const auto& r : rows) {
        OutboxRow row;
        row.relid = r.relid;
        row.txid = r.txid;
        row.bytes = r.bytes;
        row.size = r.bytes.size();
        out.outcomes.push_back(sequence_row(seq, row, 1 << 20));
    }
    seq.end_batch();
    return out;
}

TEST(SequenceRow, PackedRowsGiveTheMessagesOfPlainRows) {
    const auto a = [](int id) { return change(v1::INSERT, id); };
    const auto u = [](int id) { return change(v1::UPDATE, id); };
    // Two transactions, two tables; packs at the start, middle and end of a
    // table's run in a transaction, and a pack that is not the table's last
    // row of its transaction.
    const std::vector<Row> packed{
        {1, 100, test::pack_changes({a(1), a(2), a(3)})}, {2, 100, a(10)},
        {1, 100, test::pack_changes({u(1), u(2)})},       {1, 100, a(4)},
        {2, 100, test::pack_changes({a(11), a(12)})},     {1, 101, test::pack_changes({u(3), u(4)})}};
    const std::vector<Row> plain{{1, 100, a(1)},  {1, 100, a(2)}, {1, 100, a(3)}, {2, 100, a(10)},
                                 {1, 100, u(1)},  {1, 100, u(2)}, {1, 100, a(4)}, {2, 100, a(11)},
                                 {2, 100, a(12)}, {1, 101, u(3)}, {1, 101, u(4)}};
    const auto p = publish(packed), q = publish(plain);
    ASSERT_EQ(p.messages.size(), 11u);
    EXPECT_EQ(p.messages, q.messages);
    EXPECT_EQ(p.transactions, q.transactions);
    ASSERT_EQ(p.transactions.size(), 2u);
    const std::vector<std::uint64_t> counts{3, 1, 2, 1, 2, 2};
    for (std::size_t i = 0; i < counts.size(); ++i) {
        EXPECT_EQ(p.outcomes[i].messages, counts[i]) << i;
        EXPECT_EQ(p.outcomes[i].malformed, "") << i;
    }
    // Spot check: table 1's fifth message (sent fifth: b's first is held
    // back until its second) is u(2), seq 5, not last.
    v1::Message m;
    const auto& fifth = p.messages[4];
    ASSERT_EQ(fifth.substr(0, fifth.find(' ')), "public.t1");
    ASSERT_TRUE(m.ParseFromString(fifth.substr(fifth.find(' ') + 1)));
    EXPECT_EQ(m.seq(), 5u);
    EXPECT_EQ(m.position(), 42u);
    EXPECT_FALSE(m.tx_last());
    EXPECT_EQ(m.change().op(), v1::UPDATE);
    EXPECT_EQ(m.change().key(0).value().integer(), 2);
}

TEST(SequenceRow, MalformedPackIsOneResyncAndTheStreamGoesOn) {
    const auto good = test::pack_changes({change(v1::INSERT, 1), change(v1::INSERT, 2)});
    const auto p = publish(
        {{1, 100, change(v1::INSERT, 9)}, {1, 100, good.substr(0, good.size() - 1)}, {1, 100, change(v1::INSERT, 3)}});
    ASSERT_EQ(p.messages.size(), 3u);
    EXPECT_EQ(p.outcomes[1].messages, 1u);
    EXPECT_NE(p.outcomes[1].malformed.find("ends past the row"), std::string::npos) << p.outcomes[1].malformed;
    v1::Message m;
    ASSERT_TRUE(m.ParseFromString(p.messages[1].substr(p.messages[1].find(' ') + 1)));
    EXPECT_EQ(m.seq(), 2u);
    EXPECT_EQ(m.txid(), 100u);
    EXPECT_EQ(m.change().op(), v1::RESYNC);
    EXPECT_EQ(m.change().reason(),
              "an outbox row of table public.t1 in transaction 100 is a malformed pack of changes: " +
                  p.outcomes[1].malformed);
    ASSERT_TRUE(m.ParseFromString(p.messages[2].substr(p.messages[2].find(' ') + 1)));
    EXPECT_EQ(m.seq(), 3u);
    EXPECT_TRUE(m.tx_last());
    // The same row gives the same bytes again (redo, replay).
    EXPECT_EQ(publish({{1, 100, change(v1::INSERT, 9)},
                       {1, 100, good.substr(0, good.size() - 1)},
                       {1, 100, change(v1::INSERT, 3)}})
                  .messages,
              p.messages);
}

TEST(SequenceRow, LargeRowThatStartsLikeAPackIsAResyncNotItsBytes) {
    std::vector<std::string> sent;
    Sequencer seq([&](std::string_view, std::string_view body) { sent.emplace_back(body); },
                  [](std::uint32_t) {
                      return std::pair<std::string, std::string>{"public", "big"};
                  });
    seq.begin_batch();
    const std::string bytes = std::string(1, '\0') + std::string(5000, 'x');
    HeadroomBuffer b;
    b.bytes.assign(MESSAGE_HEADROOM, '\0');
    b.offset = MESSAGE_HEADROOM;
    b.bytes += bytes;
    OutboxRow row;
    row.relid = 7;
    row.txid = 5;
    row.size = bytes.size();
    row.large = &b;
    const auto out = sequence_row(seq, row, 1 << 20);
    seq.end_batch();
    EXPECT_EQ(out.messages, 1u);
    EXPECT_NE(out.malformed.find("larger than the 1000 bytes"), std::string::npos) << out.malformed;
    ASSERT_EQ(sent.size(), 1u);
    v1::Message m;
    ASSERT_TRUE(m.ParseFromString(sent[0]));
    EXPECT_EQ(m.change().op(), v1::RESYNC);
    EXPECT_LT(sent[0].size(), 1000u);
}

TEST(SequenceRow, LargePlainRowIsPublishedWhole) {
    std::vector<std::string> sent;
    Sequencer seq([&](std::string_view, std::string_view body) { sent.emplace_back(body); },
                  [](std::uint32_t) {
                      return std::pair<std::string, std::string>{"public", "big"};
                  });
    seq.begin_batch();
    v1::Change c;
    c.set_op(v1::INSERT);
    auto* v = c.add_values();
    v->set_name("v");
    v->mutable_value()->set_text(std::string(5000, 'y'));
    const auto bytes = c.SerializeAsString();
    HeadroomBuffer b;
    b.bytes.assign(MESSAGE_HEADROOM, '\0');
    b.offset = MESSAGE_HEADROOM;
    b.bytes += bytes;
    OutboxRow row;
    row.relid = 7;
    row.txid = 5;
    row.size = bytes.size();
    row.large = &b;
    const auto out = sequence_row(seq, row, 1 << 20);
    seq.end_batch();
    EXPECT_EQ(out.messages, 1u);
    EXPECT_EQ(out.malformed, "");
    ASSERT_EQ(sent.size(), 1u);
    v1::Message m;
    ASSERT_TRUE(m.ParseFromString(sent[0]));
    EXPECT_EQ(m.change().SerializeAsString(), bytes);
}

}  // namespace
}  // namespace tablepub
