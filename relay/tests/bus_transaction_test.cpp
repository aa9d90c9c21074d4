// Transaction messages per endpoint group (docs/protocol.md, "Endpoint
// groups"): each group's publish endpoint lists only its tables, and a
// transaction touching none of them still takes its position there.

#include <gtest/gtest.h>

#include <unistd.h>

#include "common/wire.hpp"
#include "common/zmq_util.hpp"
#include "relay/bus.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

Audience group(const std::string& name, const std::string& endpoint, const std::vector<std::string>& tables) {
    Audience a;
    a.name = name;
    a.publish = {endpoint};
    for (const auto& t : tables) a.tables.add(*TableFilter::parse_name(t));
    return a;
}

// Receives the next ".tx" message with a transaction body (heartbeats sent
// to get the subscription through are skipped).
v1::Message next_transaction(zmq::socket_t& sub) {
    for (;;) {
        zmq::message_t topic, body;
        EXPECT_TRUE(sub.recv(topic));
        EXPECT_TRUE(sub.recv(body));
        v1::Message m;
        EXPECT_TRUE(m.ParseFromArray(body.data(), static_cast<int>(body.size())));
        EXPECT_EQ(topic.to_string(), ".tx");
        if (m.has_transaction()) return m;
    }
}

// Sends heartbeats on ".tx" until every subscriber got one: the
// subscriptions are then in place (PUB drops what it sends before).
void await_subscribers(Bus& bus, std::vector<zmq::socket_t*> subs) {
    const std::string hb = encode_heartbeat({}, {}, 0, 0, 1000);
    std::vector<bool> ready(subs.size(), false);
    for (;;) {
        bus.send_all(TRANSACTION_TOPIC, hb);
        bool all = true;
        for (std::size_t i = 0; i < subs.size(); ++i) {
            if (ready[i]) continue;
            zmq::pollitem_t item{subs[i]->handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, std::chrono::milliseconds(10));
            if (item.revents & ZMQ_POLLIN) {
                zmq::message_t topic, body;
                (void)subs[i]->recv(topic);
                (void)subs[i]->recv(body);
                ready[i] = true;
            }
            all = all && ready[i];
        }
        if (all) break;
    }
}

TEST(BusTransactions, EachGroupListsOnlyItsTablesAndSeesEveryPosition) {
    zmq::context_t ctx(1);
    const std::string base = "inproc://bus-tx-" + std::to_string(::getpid());
    Bus bus(ctx,
            {group("all", base + "-all", {}), group("nova", base + "-nova", {"nova.instances"}),
             group("other", base + "-other", {"neutron.*"})},
            1000, false);
    auto all = make_subscriber(ctx, {base + "-all"}, {".tx"});
    auto nova = make_subscriber(ctx, {base + "-nova"}, {".tx"});
    auto other = make_subscriber(ctx, {base + "-other"}, {".tx"});
    await_subscribers(bus, {&all, &nova, &other});

    TransactionEnd tx;
    tx.position = 7;
    tx.txid = 900;
    tx.commit_time = 123;
    tx.tables = {{"nova", "instances", 4, 5}, {"nova", "instance_metadata", 9, 9}};
    bus.send_transaction(tx);

    const auto a = next_transaction(all);
    EXPECT_EQ(a.seq(), 7u);
    ASSERT_EQ(a.transaction().tables_size(), 2);
    EXPECT_EQ(a.transaction().tables(1).table_name(), "instance_metadata");

    const auto n = next_transaction(nova);
    EXPECT_EQ(n.seq(), 7u);
    EXPECT_EQ(n.position(), 7u);
    EXPECT_EQ(n.txid(), 900u);
    EXPECT_EQ(n.commit_time(), 123);
    ASSERT_EQ(n.transaction().tables_size(), 1);
    EXPECT_EQ(n.transaction().tables(0).table_name(), "instances");
    EXPECT_EQ(n.transaction().tables(0).first_seq(), 4u);
    EXPECT_EQ(n.transaction().tables(0).last_seq(), 5u);

    // none of its tables: the position still goes out, with an empty list
    const auto o = next_transaction(other);
    EXPECT_EQ(o.seq(), 7u);
    EXPECT_TRUE(o.has_transaction());
    EXPECT_EQ(o.transaction().tables_size(), 0);
}

}  // namespace
}  // namespace tablepub
