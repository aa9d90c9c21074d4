// Transaction messages per endpoint group (docs/protocol.md, "Endpoint
// groups"): each group's publish endpoint lists only its tables, and a
// transaction touching none of them still takes its position there.

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

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
    ASSERT_TRUE(bus.transaction_topic_subscribed());

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
    EXPECT_EQ(a.transaction().group(), "all");  // each names its group (a set follows one)

    const auto n = next_transaction(nova);
    EXPECT_EQ(n.seq(), 7u);
    EXPECT_EQ(n.position(), 7u);
    EXPECT_EQ(n.txid(), 900u);
    EXPECT_EQ(n.commit_time(), 123);
    ASSERT_EQ(n.transaction().tables_size(), 1);
    EXPECT_EQ(n.transaction().tables(0).table_name(), "instances");
    EXPECT_EQ(n.transaction().tables(0).first_seq(), 4u);
    EXPECT_EQ(n.transaction().tables(0).last_seq(), 5u);
    EXPECT_EQ(n.transaction().group(), "nova");

    // none of its tables: the position still goes out, with an empty list
    const auto o = next_transaction(other);
    EXPECT_EQ(o.seq(), 7u);
    EXPECT_TRUE(o.has_transaction());
    EXPECT_EQ(o.transaction().tables_size(), 0);
    EXPECT_EQ(o.transaction().group(), "other");
}

// Sends `topic` messages until sub receives one: its subscription (which
// matches the topic) is then in place at the publisher.
void await_subscription(Publisher& pub, zmq::socket_t& sub, const std::string& topic) {
    for (;;) {
        pub.send(topic, "x");
        zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(10));
        if ((item.revents & ZMQ_POLLIN) != 0) {
            zmq::message_t t, b;
            (void)sub.recv(t);
            (void)sub.recv(b);
            return;
        }
    }
}

// Polls until the publisher sees no subscriber of its watched topic (a
// cancellation or disconnect travels through ZeroMQ's I/O thread).
bool await_unsubscribed(Publisher& pub) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pub.watched_topic_subscribed()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

// The relay builds Transaction messages only while some subscriber would
// receive ".tx": the publisher follows the subscriptions matching it.
TEST(BusTransactions, PublisherKnowsWhetherSomeoneReceivesTheTransactionTopic) {
    zmq::context_t ctx(1);
    const std::string ep = "inproc://bus-watch-" + std::to_string(::getpid());
    Publisher pub(ctx, {ep}, 1000, {}, ".tx");
    EXPECT_FALSE(pub.watched_topic_subscribed());

    // tables only, and a longer topic that ".tx" does not match
    auto tables = make_subscriber(ctx, {ep}, {"public."});
    await_subscription(pub, tables, "public.t");
    auto longer = make_subscriber(ctx, {ep}, {".tx2"});
    await_subscription(pub, longer, ".tx2");
    EXPECT_FALSE(pub.watched_topic_subscribed());

    // every topic: ".tx" included, until that subscriber disconnects
    {
        auto all = make_subscriber(ctx, {ep}, {""});
        await_subscription(pub, all, "public.t");
        EXPECT_TRUE(pub.watched_topic_subscribed());
        EXPECT_TRUE(pub.watched_topic_subscribed());  // stays so while it is there
    }
    EXPECT_TRUE(await_unsubscribed(pub));

    // a shorter prefix, then its cancellation
    auto dot = make_subscriber(ctx, {ep}, {".t"});
    await_subscription(pub, dot, ".tx");
    EXPECT_TRUE(pub.watched_topic_subscribed());
    dot.set(zmq::sockopt::unsubscribe, ".t");
    EXPECT_TRUE(await_unsubscribed(pub));

    // two subscribers of ".tx": one leaving leaves the other's
    auto one = make_subscriber(ctx, {ep}, {".tx"});
    auto two = make_subscriber(ctx, {ep}, {".tx"});
    await_subscription(pub, one, ".tx");
    await_subscription(pub, two, ".tx");
    EXPECT_TRUE(pub.watched_topic_subscribed());
    one.set(zmq::sockopt::unsubscribe, ".tx");
    // the cancellation has arrived once one stops receiving ".tx" messages
    // that two still gets
    for (bool one_got = true; one_got;) {
        pub.send(".tx", "y");
        zmq::message_t t, b;
        (void)two.recv(t);
        (void)two.recv(b);
        zmq::pollitem_t item{one.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::milliseconds(10));
        one_got = (item.revents & ZMQ_POLLIN) != 0;
        while (one.recv(t, zmq::recv_flags::dontwait)) {
        }
    }
    EXPECT_TRUE(pub.watched_topic_subscribed());
    two.set(zmq::sockopt::unsubscribe, ".tx");
    EXPECT_TRUE(await_unsubscribed(pub));

    // a Bus follows every group's publisher
    Bus bus(ctx, {group("g", ep + "-bus", {})}, 1000, false);
    EXPECT_FALSE(bus.transaction_topic_subscribed());
    auto g = make_subscriber(ctx, {ep + "-bus"}, {".tx"});
    await_subscribers(bus, {&g});
    EXPECT_TRUE(bus.transaction_topic_subscribed());
}

// A subscriber of every table but not of ".tx" (tablepub-tail without
// --table) gets every other topic, and the relay builds no Transaction
// message for it.
TEST(BusTransactions, EveryTopicButTheTransactionTopic) {
    zmq::context_t ctx(1);
    const std::string ep = "inproc://bus-but-" + std::to_string(::getpid());
    Publisher pub(ctx, {ep}, 1000, {}, ".tx");
    auto sub = make_subscriber(ctx, {ep}, every_topic_but(".tx"));
    await_subscription(pub, sub, "public.t");
    EXPECT_FALSE(pub.watched_topic_subscribed());
    sub.set(zmq::sockopt::rcvtimeo, 10000);
    // ".tx" is sent first: had it matched, it would arrive first
    for (const std::string topic : {".tx", ".tx.t", ".t.x", "..tx", ".tx2", "t.x", ".", ".t", "\xff.a", "end"}) {
        pub.send(topic, "m");
    }
    std::vector<std::string> got;
    for (;;) {
        zmq::message_t t, b;
        ASSERT_TRUE(sub.recv(t));
        ASSERT_TRUE(sub.recv(b));
        if (t.to_string() == "public.t") continue;  // await_subscription's extras
        got.push_back(t.to_string());
        if (got.back() == "end") break;
    }
    // (".", ".t": no prefix that excludes ".tx" matches them, and no table
    // topic is that short)
    EXPECT_EQ(got, (std::vector<std::string>{".tx.t", ".t.x", "..tx", ".tx2", "t.x", "\xff.a", "end"}));
}

// A publisher receives only subscriptions: a peer that sends it anything
// larger is disconnected rather than buffered (the XPUB queues what peers
// send until the relay reads it, also while it stands by).
TEST(BusTransactions, PublisherDisconnectsAPeerSendingMoreThanASubscription) {
    zmq::context_t ctx(1);
    const std::string ep = "ipc:///tmp/tablepub-bus-maxmsg-" + std::to_string(::getpid());
    Publisher pub(ctx, {ep}, 1000, {}, ".tx");
    const std::string monitor = "inproc://bus-maxmsg-monitor";
    ASSERT_EQ(zmq_socket_monitor(pub.socket().handle(), monitor.c_str(), ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED),
              0);
    zmq::socket_t events(ctx, zmq::socket_type::pair);
    events.connect(monitor);
    events.set(zmq::sockopt::rcvtimeo, 10000);
    // The next monitor event of the publisher (an event frame, an address frame).
    auto next_event = [&events]() {
        zmq::message_t head, address;
        EXPECT_TRUE(events.recv(head));
        EXPECT_TRUE(events.recv(address));
        std::uint16_t event = 0;
        std::memcpy(&event, head.data(), sizeof event);
        return event;
    };

    zmq::socket_t peer(ctx, zmq::socket_type::xsub);
    peer.connect(ep);
    EXPECT_EQ(next_event(), ZMQ_EVENT_ACCEPTED);
    const std::string junk(Publisher::MAX_INBOUND_BYTES + 1, 'x');
    peer.send(zmq::buffer(junk), zmq::send_flags::none);
    EXPECT_EQ(next_event(), ZMQ_EVENT_DISCONNECTED);
    EXPECT_FALSE(pub.watched_topic_subscribed());

    // a subscriber that keeps to subscriptions is still served
    auto tx = make_subscriber(ctx, {ep}, {".tx"});
    await_subscription(pub, tx, ".tx");
    EXPECT_TRUE(pub.watched_topic_subscribed());
    zmq_socket_monitor(pub.socket().handle(), nullptr, 0);
}

}  // namespace
}  // namespace tablepub
