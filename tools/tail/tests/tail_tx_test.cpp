#include <gtest/gtest.h>

#include "tablepub.pb.h"
#include "tablepub/table_set_sync.hpp"
#include "tail/tail_tx.hpp"

namespace {

using namespace tablepub;

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
    tx.changes.emplace_back("public.instances", m);
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
