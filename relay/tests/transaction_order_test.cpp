// Commit positions and Transaction messages of the sequencer (docs/protocol.md,
// "Commit order"): no database, the sequencer alone.

#include <gtest/gtest.h>

#include "common/wire.hpp"
#include "relay/sequencer.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

std::string insert(std::int64_t id) {
    v1::Change c;
    c.set_op(v1::INSERT);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(id);
    return c.SerializeAsString();
}

std::string rename_to(const std::string& schema, const std::string& table) {
    v1::Change c;
    c.set_op(v1::SCHEMA);
    c.mutable_schema()->set_schema_name(schema);
    c.mutable_schema()->set_table_name(table);
    return c.SerializeAsString();
}

// Everything the sequencer sent, in order: table messages and Transaction
// messages (encoded as the relay publishes them) on one list.
struct Out {
    std::string topic;
    std::string raw;
    v1::Message msg;
};

struct Recorder {
    std::vector<Out> out;
    Sequencer make() {
        return Sequencer([this](std::string_view topic, std::string_view body) { push(topic, std::string(body)); },
                         [](std::uint32_t relid) {
                             return std::pair<std::string, std::string>{"cat", "t" + std::to_string(relid)};
                         },
                         [this](const TransactionEnd& tx) {
                             std::string body;
                             encode_transaction_message(body, tx.position, tx.txid, tx.commit_time, tx.tables.data(),
                                                        tx.tables.size());
                             push(TRANSACTION_TOPIC, std::move(body));
                         });
    }
    void push(std::string_view topic, std::string raw) {
        Out o{std::string(topic), std::move(raw), {}};
        EXPECT_TRUE(o.msg.ParseFromString(o.raw));
        out.push_back(std::move(o));
    }
};

const std::vector<StreamState> STREAMS{StreamState{1, "nova", "instances", 10, 1, "", true},
                                       StreamState{2, "nova", "instance_metadata", 20, 1, "", true}};

TEST(TransactionOrder, OnePositionPerTransactionAcrossTablesAndItsTransactionAfterItsLastMessage) {
    Recorder r;
    auto seq = r.make();
    seq.load(STREAMS, 41);
    seq.begin_batch(1'700'000'000'123'456);
    seq.add(1, 500, insert(1));  // tx 500: instances, metadata, instances
    seq.add(2, 500, insert(1));
    seq.add(2, 500, insert(2));
    seq.add(1, 500, insert(2));
    seq.add(2, 501, insert(3));  // tx 501: metadata only
    seq.end_batch();

    ASSERT_EQ(r.out.size(), 7u);
    // tx 500: four table messages, all at position 42, then its Transaction
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(r.out[i].msg.position(), 42u) << i;
        EXPECT_EQ(r.out[i].msg.txid(), 500u) << i;
        EXPECT_EQ(r.out[i].msg.commit_time(), 1'700'000'000'123'456) << i;
        EXPECT_NE(r.out[i].topic, ".tx") << i;
    }
    // every table's tx_last message precedes the Transaction message
    int tx_last = 0;
    for (int i = 0; i < 4; ++i) tx_last += r.out[i].msg.tx_last() ? 1 : 0;
    EXPECT_EQ(tx_last, 2);
    const auto& t = r.out[4];
    EXPECT_EQ(t.topic, ".tx");
    ASSERT_TRUE(t.msg.has_transaction());
    EXPECT_EQ(t.msg.seq(), 42u);
    EXPECT_EQ(t.msg.position(), 42u);
    EXPECT_EQ(t.msg.txid(), 500u);
    EXPECT_EQ(t.msg.commit_time(), 1'700'000'000'123'456);
    EXPECT_TRUE(t.msg.schema_name().empty());
    EXPECT_TRUE(t.msg.table_name().empty());
    ASSERT_EQ(t.msg.transaction().tables_size(), 2);
    // in the order of the first change
    const auto& a = t.msg.transaction().tables(0);
    EXPECT_EQ(a.schema_name(), "nova");
    EXPECT_EQ(a.table_name(), "instances");
    EXPECT_EQ(a.first_seq(), 11u);
    EXPECT_EQ(a.last_seq(), 12u);
    const auto& b = t.msg.transaction().tables(1);
    EXPECT_EQ(b.table_name(), "instance_metadata");
    EXPECT_EQ(b.first_seq(), 21u);
    EXPECT_EQ(b.last_seq(), 22u);

    // tx 501: the next position, contiguous
    EXPECT_EQ(r.out[5].msg.position(), 43u);
    EXPECT_EQ(r.out[5].msg.seq(), 23u);
    EXPECT_TRUE(r.out[5].msg.tx_last());
    EXPECT_EQ(r.out[6].topic, ".tx");
    EXPECT_EQ(r.out[6].msg.seq(), 43u);
    ASSERT_EQ(r.out[6].msg.transaction().tables_size(), 1);
    EXPECT_EQ(r.out[6].msg.transaction().tables(0).first_seq(), 23u);
    EXPECT_EQ(r.out[6].msg.transaction().tables(0).last_seq(), 23u);

    EXPECT_EQ(seq.last_position(), 43u);
    EXPECT_EQ(seq.sent_position(), 43u);
}

TEST(TransactionOrder, PositionsContinueAcrossBatchesAndSentPositionWaitsForTheTransactionEnd) {
    Recorder r;
    auto seq = r.make();
    seq.load(STREAMS, 0);
    seq.begin_batch(1);
    seq.add(1, 7, insert(1));
    EXPECT_EQ(seq.last_position(), 1u);
    EXPECT_EQ(seq.sent_position(), 0u);  // its messages are not all out yet
    seq.end_batch();
    EXPECT_EQ(seq.sent_position(), 1u);
    seq.begin_batch(2);
    seq.add(2, 9, insert(1));
    seq.add(1, 10, insert(2));
    seq.end_batch();
    EXPECT_EQ(seq.last_position(), 3u);
    std::vector<std::uint64_t> positions;
    for (const auto& o : r.out)
        if (o.topic == ".tx") positions.push_back(o.msg.seq());
    EXPECT_EQ(positions, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(TransactionOrder, RedoneBatchGivesIdenticalBytesIncludingTransactions) {
    auto run = [] {
        Recorder r;
        auto seq = r.make();
        seq.load(STREAMS, 100);
        seq.begin_batch(99);
        for (std::uint64_t tx = 1; tx <= 20; ++tx) {
            for (std::uint32_t k = 0; k < tx % 4 + 1; ++k) seq.add(1 + (k + tx) % 2, tx, insert(tx * 10 + k));
        }
        seq.end_batch();
        return r.out;
    };
    const auto first = run();
    const auto second = run();
    ASSERT_EQ(first.size(), second.size());
    std::size_t transactions = 0;
    for (std::size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(first[i].topic, second[i].topic) << i;
        EXPECT_EQ(first[i].raw, second[i].raw) << i;
        transactions += first[i].topic == ".tx" ? 1 : 0;
    }
    EXPECT_EQ(transactions, 20u);
}

// The hand-made Transaction message is what protobuf itself would write.
TEST(TransactionOrder, TransactionEncodingMatchesProtobuf) {
    const TransactionRange ranges[] = {{"nova", "instances", 3, 5}, {"nova", "instance_metadata", 1, 1}};
    std::string mine;
    encode_transaction_message(mine, 77, 12345, -5, ranges, 2);
    v1::Message m;
    m.set_seq(77);
    m.set_txid(12345);
    m.set_position(77);
    m.set_commit_time(-5);
    auto* t = m.mutable_transaction();
    for (const auto& r : ranges) {
        auto* x = t->add_tables();
        x->set_schema_name(std::string(r.schema_name));
        x->set_table_name(std::string(r.table_name));
        x->set_first_seq(r.first_seq);
        x->set_last_seq(r.last_seq);
    }
    EXPECT_EQ(mine, m.SerializeAsString());
    // with the name of the group that sends it
    std::string named;
    encode_transaction_message(named, 77, 12345, -5, ranges, 2, "reporting");
    t->set_group("reporting");
    EXPECT_EQ(named, m.SerializeAsString());
    // an empty list still carries the (empty) body
    std::string empty;
    encode_transaction_message(empty, 1, 2, 3, nullptr, 0);
    v1::Message e;
    ASSERT_TRUE(e.ParseFromString(empty));
    EXPECT_TRUE(e.has_transaction());
    EXPECT_EQ(e.transaction().tables_size(), 0);
    std::string empty_named;
    encode_transaction_message(empty_named, 1, 2, 3, nullptr, 0, "default");
    ASSERT_TRUE(e.ParseFromString(empty_named));
    EXPECT_EQ(e.transaction().group(), "default");
}

// A rename inside a transaction: the range before it was on the former
// topic, the SCHEMA message and what follows on the new one.
TEST(TransactionOrder, RenameInsideATransactionGivesOneRangePerTopic) {
    Recorder r;
    auto seq = r.make();
    seq.load(STREAMS, 0);
    seq.begin_batch(0);
    seq.add(1, 5, insert(1));
    seq.add(1, 5, rename_to("nova", "servers"));
    seq.add(1, 5, insert(2));
    seq.end_batch();
    ASSERT_EQ(r.out.size(), 4u);
    EXPECT_EQ(r.out[0].topic, "nova.instances");
    EXPECT_EQ(r.out[1].topic, "nova.servers");
    const auto& t = r.out[3].msg.transaction();
    ASSERT_EQ(t.tables_size(), 2);
    EXPECT_EQ(t.tables(0).table_name(), "instances");
    EXPECT_EQ(t.tables(0).first_seq(), 11u);
    EXPECT_EQ(t.tables(0).last_seq(), 11u);
    EXPECT_EQ(t.tables(1).table_name(), "servers");
    EXPECT_EQ(t.tables(1).first_seq(), 12u);
    EXPECT_EQ(t.tables(1).last_seq(), 13u);
}

// A replay of one table sets each transaction's position from the batch.
TEST(TransactionOrder, NextPositionSkipsOtherTablesTransactions) {
    Recorder r;
    auto seq = r.make();
    seq.load(STREAMS, 0);
    seq.begin_batch(0);
    seq.next_position(10);
    seq.add(1, 5, insert(1));
    seq.next_position(10);  // same transaction: ignored
    seq.add(1, 5, insert(2));
    seq.next_position(13);
    seq.add(1, 8, insert(3));
    seq.end_batch();
    EXPECT_EQ(r.out[0].msg.position(), 10u);
    EXPECT_EQ(r.out[1].msg.position(), 10u);
    EXPECT_EQ(r.out[3].msg.position(), 13u);
}

// A batch published before extension 0.3 is replayed as it was: no
// positions, no Transaction messages.
TEST(TransactionOrder, UnnumberedBatchHasNoPositions) {
    Recorder r;
    auto seq = r.make();
    seq.load(STREAMS, 0);
    seq.begin_batch(0, false);
    seq.add(1, 5, insert(1));
    seq.add(2, 6, insert(1));
    seq.end_batch();
    ASSERT_EQ(r.out.size(), 2u);
    EXPECT_EQ(r.out[0].msg.position(), 0u);
    EXPECT_EQ(r.out[1].msg.position(), 0u);
    EXPECT_EQ(seq.last_position(), 0u);
}

// While nobody subscribes to ".tx", transaction ends are not reported, but
// positions go on as before (the table messages carry them); switched on
// in the middle of a transaction, reporting starts with the next one, whose
// ranges are complete.
TEST(TransactionOrder, UnreportedTransactionsStillTakePositions) {
    Recorder r;
    auto seq = r.make();
    seq.load(STREAMS, 41);
    seq.report_transactions(false);
    seq.begin_batch(7);
    seq.add(1, 500, insert(1));  // position 42
    seq.add(2, 500, insert(1));
    seq.add(1, 501, insert(2));  // position 43, reporting switched on inside it
    seq.report_transactions(true);
    seq.add(2, 501, insert(2));
    seq.add(2, 502, insert(3));  // position 44: reported
    seq.add(1, 502, insert(3));
    seq.add(2, 502, insert(4));
    seq.end_batch();

    std::vector<Out> tx;
    std::vector<std::uint64_t> positions;
    for (const auto& o : r.out) {
        if (o.topic == ".tx") {
            tx.push_back(o);
        } else {
            positions.push_back(o.msg.position());
        }
    }
    EXPECT_EQ(positions, (std::vector<std::uint64_t>{42, 42, 43, 43, 44, 44, 44}));
    ASSERT_EQ(tx.size(), 1u);
    EXPECT_EQ(tx[0].msg.position(), 44u);
    EXPECT_EQ(tx[0].msg.txid(), 502u);
    ASSERT_EQ(tx[0].msg.transaction().tables_size(), 2);
    EXPECT_EQ(tx[0].msg.transaction().tables(0).table_name(), "instance_metadata");
    EXPECT_EQ(tx[0].msg.transaction().tables(0).first_seq(), 23u);
    EXPECT_EQ(tx[0].msg.transaction().tables(0).last_seq(), 24u);
    EXPECT_EQ(tx[0].msg.transaction().tables(1).table_name(), "instances");
    EXPECT_EQ(tx[0].msg.transaction().tables(1).first_seq(), 13u);
    EXPECT_EQ(tx[0].msg.transaction().tables(1).last_seq(), 13u);
    EXPECT_EQ(seq.last_position(), 44u);
    EXPECT_EQ(seq.sent_position(), 44u);

    // and off again: the next batch reports nothing, positions go on
    seq.report_transactions(false);
    seq.begin_batch(8);
    seq.add(1, 503, insert(4));
    seq.end_batch();
    EXPECT_EQ(r.out.back().topic, "nova.instances");
    EXPECT_EQ(r.out.back().msg.position(), 45u);
    EXPECT_EQ(seq.sent_position(), 45u);
}

}  // namespace
}  // namespace tablepub
