#include <gtest/gtest.h>

#include "tablepub.pb.h"
#include "tablepub/table_set_sync.hpp"
#include "tail/tail_format.hpp"
#include "tail/tail_options.hpp"
#include "tail/tail_tx.hpp"

namespace {

using namespace tablepub;

// ".tx" reaches every empty-prefix subscriber; tablepub-tail prints it only
// when named, so its output without --table is what it was before 0.3.
TEST(TailTx, TransactionTopicOnlyWhenNamed) {
    TailOptions all;
    EXPECT_TRUE(topic_selected(all, "public.a"));
    EXPECT_FALSE(topic_selected(all, ".tx"));
    TailOptions named;
    named.tables = {"public.a", ".tx"};
    EXPECT_TRUE(topic_selected(named, ".tx"));
    EXPECT_TRUE(topic_selected(named, "public.a"));
    EXPECT_FALSE(topic_selected(named, "public.b"));
}

TEST(TailTx, TransactionLine) {
    SetTransaction tx;
    tx.position = 42;
    tx.txid = 7001;
    tx.commit_time = 1'700'000'000'000'000;  // 2023-11-14T22:13:20.000000Z
    v1::Message m;
    m.set_schema_name("public");
    m.set_table_name("instances");
    m.set_seq(9);
    m.set_txid(7001);
    m.set_tx_last(true);
    m.set_position(42);
    auto* ch = m.mutable_change();
    ch->set_op(v1::DELETE);
    auto* k = ch->add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(3);
    SetChange change;
    change.table = "public.instances";
    change.seq = 9;
    change.op = ChangeOp::remove;
    change.message = &m;
    tx.changes.push_back(change);
    const auto line = transaction_json(tx, BytesFormat::base64);
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["position"], 42);
    EXPECT_EQ(j["txid"], 7001);
    EXPECT_EQ(j["commit_time"], "2023-11-14T22:13:20.000000Z");
    ASSERT_EQ(j["changes"].size(), 1u);
    EXPECT_EQ(j["changes"][0]["table"], "public.instances");
    EXPECT_EQ(j["changes"][0]["op"], "delete");
    EXPECT_EQ(j.dump(), line);  // members sorted, no spaces: the tail's canonical form
}

}  // namespace

namespace {

using namespace tablepub;

TEST(TailTx, RawTransactionMessage) {
    v1::Message m;
    m.set_seq(5);
    m.set_position(5);
    m.set_txid(900);
    m.set_commit_time(0);
    auto* r = m.mutable_transaction()->add_tables();
    r->set_schema_name("public");
    r->set_table_name("a");
    r->set_first_seq(3);
    r->set_last_seq(4);
    const auto line = message_json(".tx", m, BytesFormat::base64);
    EXPECT_EQ(line,
              "{\"commit_time\":\"1970-01-01T00:00:00.000000Z\",\"op\":\"transaction\",\"position\":5,\"seq\":5,"
              "\"table\":\".tx\",\"tables\":[{\"first_seq\":3,\"last_seq\":4,\"table\":\"public.a\"}],\"txid\":900}");
}

}  // namespace
