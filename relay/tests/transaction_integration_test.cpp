// Commit positions end to end (docs/protocol.md sections 4a and 6): a real
// cluster, the real relay (as a member of tablepub_relay only), a real
// subscriber on the table topics and ".tx" over one socket.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "harness.hpp"

namespace tablepub::test {
namespace {

using namespace std::chrono_literals;

// Polls pred for up to 30 s (the relay stores its state a moment after it
// published).
bool wait_until(const std::function<bool()>& pred) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

class TransactionIT : public ClusterTest {
protected:
    TransactionIT() : ClusterTest("tx") {}

    void SetUp() override {
        ClusterTest::SetUp();
        endpoint_ = "ipc://" + cluster_->dir() + "/" + dbname_ + ".sock";
        snapshot_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-snap.sock";
    }

    // tx_subscriber: the relay publishes to a running subscriber of ""
    // (which receives ".tx") from its first batch on.
    RelayProcess& start_relay(std::vector<std::string> extra = {}, bool tx_subscriber = true) {
        std::vector<std::string> args{"--db",    relay_conninfo_, "--publish", endpoint_,         "--snapshot",
                                      snapshot_, "--log-level",   "debug",     "--poll-interval", "200ms"};
        args.insert(args.end(), extra.begin(), extra.end());
        return tx_subscriber ? start_relay_after_subscription(std::move(args), "")
                             : start_relay_process(std::move(args));
    }

    // A DEALER on the relay's snapshot endpoint, for replay().
    zmq::socket_t snapshot_dealer() {
        zmq::socket_t dealer(ctx_, zmq::socket_type::dealer);
        dealer.set(zmq::sockopt::rcvtimeo, 10000);
        dealer.set(zmq::sockopt::linger, 0);  // a request the relay never took must not hang the context's end
        dealer.connect(snapshot_);
        return dealer;
    }

    std::string endpoint_, snapshot_;
    zmq::context_t ctx_{1};
};

// What a subscriber of every topic saw, checked against the rules of
// protocol.md section 4a.
struct TxCheck {
    std::map<std::uint64_t, v1::Message> transactions;  // by position
    std::vector<std::string> problems;
};

TxCheck check_transactions(const std::vector<Received>& msgs) {
    TxCheck out;
    std::map<std::pair<std::string, std::uint64_t>, const Received*> first;  // (topic, seq)
    std::map<std::pair<std::string, std::uint64_t>, std::size_t> first_at;
    std::map<std::uint64_t, const Received*> tx_raw;
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& m = msgs[i];
        const auto key = std::make_pair(m.topic, m.msg.seq());
        if (auto it = first.find(key); it != first.end()) {
            if (it->second->raw != m.raw)
                out.problems.push_back(m.topic + " seq " + std::to_string(m.msg.seq()) + " came again, other bytes");
            continue;
        }
        first[key] = &m;
        first_at[key] = i;
        if (m.topic != ".tx") continue;
        if (!m.msg.has_transaction()) {
            out.problems.push_back(".tx message without a transaction");
            continue;
        }
        out.transactions[m.msg.position()] = m.msg;
        // every listed message arrived before it, with its position and txid
        for (const auto& r : m.msg.transaction().tables()) {
            const auto topic = r.schema_name() + "." + r.table_name();
            for (auto seq = r.first_seq(); seq <= r.last_seq(); ++seq) {
                const auto at = first_at.find({topic, seq});
                if (at == first_at.end() || at->second > i) {
                    out.problems.push_back("position " + std::to_string(m.msg.position()) + ": " + topic + " seq " +
                                           std::to_string(seq) + " not before its Transaction");
                    continue;
                }
                const auto& tm = first[{topic, seq}]->msg;
                if (tm.position() != m.msg.position() || tm.txid() != m.msg.txid() ||
                    tm.commit_time() != m.msg.commit_time())
                    out.problems.push_back(topic + " seq " + std::to_string(seq) + " has position " +
                                           std::to_string(tm.position()) + ", its Transaction says " +
                                           std::to_string(m.msg.position()));
                if (tm.tx_last() != (seq == r.last_seq()))
                    out.problems.push_back(topic + " seq " + std::to_string(seq) + ": tx_last wrong");
            }
        }
    }
    // positions contiguous from 1; every change message's position listed
    std::uint64_t expect = 1;
    for (const auto& [p, m] : out.transactions) {
        if (p != expect) out.problems.push_back("position " + std::to_string(expect) + " missing");
        expect = p + 1;
    }
    for (const auto& [key, m] : first) {
        if (key.first == ".tx" || !m->msg.has_change()) continue;
        if (!out.transactions.contains(m->msg.position()))
            out.problems.push_back(key.first + " seq " + std::to_string(key.second) + ": position " +
                                   std::to_string(m->msg.position()) + " has no Transaction");
    }
    return out;
}

// A replay of ".tx" (transactions) from position `from`.
v1::ReplayRequest tx_replay(std::uint64_t from) {
    v1::ReplayRequest r;
    r.set_transactions(true);
    r.set_from_seq(from);
    return r;
}

// A replay of table public.`table` from seq `from`.
v1::ReplayRequest table_replay(const std::string& table, std::uint64_t from) {
    v1::ReplayRequest r;
    r.set_schema_name("public");
    r.set_table_name(table);
    r.set_from_seq(from);
    return r;
}

std::vector<v1::Message> replay(zmq::socket_t& dealer, std::uint64_t id, const v1::ReplayRequest& what,
                                v1::Error* error = nullptr) {
    v1::Request req;
    req.set_request_id(id);
    req.set_credit(8);
    *req.mutable_replay() = what;
    const auto bytes = req.SerializeAsString();
    dealer.send(zmq::buffer(bytes));
    std::vector<v1::Message> out;
    for (;;) {
        zmq::message_t m;
        if (!dealer.recv(m)) {
            ADD_FAILURE() << "no reply to the replay request";
            return out;
        }
        v1::Reply reply;
        EXPECT_TRUE(reply.ParseFromArray(m.data(), static_cast<int>(m.size())));
        if (reply.request_id() != id) continue;
        if (reply.has_error()) {
            if (error) *error = reply.error();
            return out;
        }
        for (const auto& msg : reply.replay_messages().messages()) out.push_back(msg);
        if (reply.has_replay_end()) return out;
        if (reply.has_replay_messages()) {
            v1::Request grant;
            grant.set_request_id(id);
            grant.mutable_credit_grant()->set_chunks(1);
            const auto g = grant.SerializeAsString();
            dealer.send(zmq::buffer(g));
        }
    }
}

TEST_F(TransactionIT, TwoTablesOnePositionSurvivesKill9) {
    db_.exec("CREATE TABLE instances (id int PRIMARY KEY, state text)");
    db_.exec("CREATE TABLE instance_metadata (id int PRIMARY KEY, instance int, v text)");
    db_.exec("SELECT tablepub.publish('instances')");
    db_.exec("SELECT tablepub.publish('instance_metadata')");
    // One transaction changing both tables, looked at closely below.
    const auto both =
        static_cast<std::uint64_t>(db_.exec("BEGIN; INSERT INTO instances VALUES (0, 'building');"
                                            "INSERT INTO instance_metadata VALUES (0, 0, 'role'), (1, 0, 'owner');"
                                            "UPDATE instances SET state = 'active' WHERE id = 0; SELECT txid_current()")
                                       .int64(0, 0));
    db_.exec("COMMIT");
    Subscriber sub({endpoint_}, "", false, false, true);
    // Published and stored by a relay that then stops: the next relays
    // start from a stored position.
    auto& zeroth = start_relay();
    ASSERT_TRUE(sub.wait([](const std::vector<Received>& msgs) {
        return std::count_if(msgs.begin(), msgs.end(), [](const Received& m) { return m.topic == ".tx"; }) >= 3;
    }));
    ASSERT_TRUE(
        wait_until([&] { return db_.exec("SELECT last_position FROM tablepub.relay_state").int64(0, 0) == 3; }));
    EXPECT_EQ(zeroth.terminate(), 0);
    // Then a backlog of mixed transactions, for a long first batch the
    // relay is killed in.
    for (int tx = 1; tx <= 300; ++tx) {
        const auto base = std::to_string(tx * 1000);
        std::string sql =
            "INSERT INTO instances SELECT g, md5(g::text) FROM generate_series(" + base + ", " + base + " + 99) g";
        if (tx % 3 != 0)
            sql += "; INSERT INTO instance_metadata SELECT g, g, md5(g::text) FROM generate_series(" + base + ", " +
                   base + " + 49) g";
        db_.exec(sql);
    }
    // The first relay publishes that batch but cannot finish it: the test
    // holds the relay_stream rows relay_finish_batch updates, so the kill
    // always comes mid-batch (it used to race a relay done in 200 ms).
    PgConnection hold(conninfo_);
    hold.exec("BEGIN; SELECT 1 FROM tablepub.relay_stream FOR UPDATE");
    auto& first = start_relay({"--fetch-rows", "100"});
    ASSERT_TRUE(sub.wait_count("public.instances", 2000, 30s));
    first.kill9();
    // Its backend, waiting for those rows, must not finish the batch once
    // they are free.
    db_.exec(
        "SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity"
        " WHERE application_name = 'tablepub-relay' AND datname = current_database()");
    hold.exec("ROLLBACK");
    EXPECT_EQ(db_.exec("SELECT count(*) FROM tablepub.relay_batch WHERE done IS NULL").int64(0, 0), 1)
        << "the relay finished before it was killed; the restart proves nothing";
    auto& second = start_relay();
    // 2 publish transactions + the one above + 300
    constexpr std::uint64_t total = 303;
    ASSERT_TRUE(sub.wait(
        [&](const std::vector<Received>& msgs) {
            std::set<std::uint64_t> positions;
            for (const auto& m : msgs)
                if (m.topic == ".tx") positions.insert(m.msg.seq());
            return positions.size() >= total;
        },
        60s));
    const auto all = sub.messages();
    const auto check = check_transactions(all);
    EXPECT_TRUE(check.problems.empty()) << check.problems.size() << " problems, first: " << check.problems.front();
    ASSERT_EQ(check.transactions.size(), total);
    EXPECT_EQ(check.transactions.rbegin()->first, total);

    // The two-table transaction: position 3, both tables in first-change order.
    const auto& t = check.transactions.at(3);
    EXPECT_EQ(t.txid(), both);
    EXPECT_GT(t.commit_time(), 1'600'000'000'000'000);
    ASSERT_EQ(t.transaction().tables_size(), 2);
    EXPECT_EQ(t.transaction().tables(0).table_name(), "instances");
    EXPECT_EQ(t.transaction().tables(0).last_seq() - t.transaction().tables(0).first_seq(), 1u);
    EXPECT_EQ(t.transaction().tables(1).table_name(), "instance_metadata");
    EXPECT_EQ(t.transaction().tables(1).last_seq() - t.transaction().tables(1).first_seq(), 1u);

    // The relay stored where it is.
    EXPECT_TRUE(wait_until([&] {
        return db_.exec("SELECT last_position FROM tablepub.relay_state").int64(0, 0) ==
               static_cast<std::int64_t>(total);
    }));

    // Replays give the same bytes: the transactions (by position) and a
    // table (whose messages carry positions of a batch shared with the
    // other table).
    auto dealer = snapshot_dealer();
    const auto txr = tx_replay(2);
    const auto txs = replay(dealer, 1, txr);
    ASSERT_EQ(txs.size(), total - 1);
    std::map<std::pair<std::string, std::uint64_t>, std::string> live;
    for (const auto& m : all) live.emplace(std::make_pair(m.topic, m.msg.seq()), m.raw);
    for (const auto& m : txs) EXPECT_EQ(m.SerializeAsString(), live.at({".tx", m.seq()})) << "position " << m.seq();

    const auto meta = replay(dealer, 2, table_replay("instance_metadata", 1));
    ASSERT_GT(meta.size(), 1000u);
    for (const auto& m : meta)
        EXPECT_EQ(m.SerializeAsString(), live.at({"public.instance_metadata", m.seq()})) << "seq " << m.seq();

    // Names in a transaction replay are refused; positions beyond the retained ones are GONE.
    v1::ReplayRequest bad = txr;
    bad.set_table_name("instances");
    v1::Error err;
    EXPECT_TRUE(replay(dealer, 3, bad, &err).empty());
    EXPECT_EQ(err.code(), v1::MALFORMED_REQUEST);
    db_.exec("DELETE FROM tablepub.relay_batch WHERE first_position <= 3");
    err.Clear();
    EXPECT_TRUE(replay(dealer, 4, tx_replay(1), &err).empty());
    EXPECT_EQ(err.code(), v1::GONE);
    EXPECT_EQ(second.terminate(), 0);
}

// The relay builds Transaction messages only while someone subscribes to
// ".tx" (docs/protocol.md section 4a, "Who receives .tx"). A subscriber
// that subscribes to it mid-stream gets contiguous positions from its first
// one on, replays the positions before it, and the result is the same as
// if ".tx" had been built all along: every position once, each listing
// exactly the table messages that carry it, live and replayed bytes equal.
TEST_F(TransactionIT, LateTransactionSubscriberGetsEveryPositionWithReplay) {
    db_.exec("CREATE TABLE a (id int PRIMARY KEY)");
    db_.exec("CREATE TABLE b (id int PRIMARY KEY)");
    db_.exec("SELECT tablepub.publish('a')");
    db_.exec("SELECT tablepub.publish('b')");
    Subscriber tables({endpoint_}, "public.");
    auto& relay = start_relay({}, false);
    int n = 0;
    const auto write = [&] {
        ++n;
        // one transaction over both tables, one over a only
        db_.exec("INSERT INTO a VALUES (" + std::to_string(2 * n) + "); INSERT INTO b VALUES (" + std::to_string(n) +
                 ")");
        db_.exec("INSERT INTO a VALUES (" + std::to_string(2 * n + 1) + ")");
    };
    for (int i = 0; i < 20; ++i) write();
    ASSERT_TRUE(tables.wait_count("public.b", 20));

    // Joins now; writes go on until its first live Transaction message.
    Subscriber late({endpoint_}, ".tx", false, false, true);
    ASSERT_TRUE(wait_until([&] {
        write();
        return late.count() > 0;
    }));
    for (int i = 0; i < 20; ++i) write();
    // 2 publish transactions, then 2 per write
    const std::uint64_t total = 2 + 2 * static_cast<std::uint64_t>(n);
    ASSERT_TRUE(late.wait(
        [&](const std::vector<Received>& msgs) { return !msgs.empty() && msgs.back().msg.position() == total; }));
    ASSERT_TRUE(tables.wait_count("public.b", static_cast<std::size_t>(n)));

    std::map<std::uint64_t, std::string> live;  // position -> bytes
    for (const auto& m : late.messages()) {
        ASSERT_TRUE(m.msg.has_transaction());
        EXPECT_TRUE(live.emplace(m.msg.position(), m.raw).second) << "position " << m.msg.position() << " twice";
    }
    const auto first_live = live.begin()->first;
    EXPECT_GT(first_live, 42u) << "Transaction messages went out before anyone subscribed to them";
    EXPECT_EQ(live.rbegin()->first - first_live + 1, live.size()) << "a gap in the live positions";

    auto dealer = snapshot_dealer();
    const auto replayed = replay(dealer, 1, tx_replay(1));
    ASSERT_EQ(replayed.size(), total);
    // the tables' messages, every one (the live subscriber may have joined
    // after the first)
    std::map<std::pair<std::string, std::uint64_t>, v1::Message> by_seq;
    std::uint64_t id = 2;
    for (const std::string table : {"a", "b"}) {
        for (const auto& m : replay(dealer, id++, table_replay(table, 1)))
            by_seq.emplace(std::make_pair("public." + table, m.seq()), m);
    }
    ASSERT_EQ(by_seq.size(), 1 + 2 * static_cast<std::size_t>(n) + 1 + static_cast<std::size_t>(n));
    std::set<std::uint64_t> listed;  // positions of the table messages the Transactions list
    std::uint64_t expect = 1;
    for (const auto& t : replayed) {
        EXPECT_EQ(t.position(), expect++);
        if (const auto it = live.find(t.position()); it != live.end()) {
            EXPECT_EQ(t.SerializeAsString(), it->second) << "position " << t.position();
        }
        for (const auto& r : t.transaction().tables()) {
            for (auto seq = r.first_seq(); seq <= r.last_seq(); ++seq) {
                const auto it = by_seq.find({r.schema_name() + "." + r.table_name(), seq});
                ASSERT_NE(it, by_seq.end()) << r.table_name() << " seq " << seq;
                EXPECT_EQ(it->second.position(), t.position());
                EXPECT_EQ(it->second.txid(), t.txid());
                listed.insert(t.position());
            }
        }
    }
    for (const auto& [key, m] : by_seq)
        EXPECT_TRUE(listed.contains(m.position())) << key.first << " seq " << key.second << " in no Transaction";
    EXPECT_EQ(relay.terminate(), 0);
}

}  // namespace
}  // namespace tablepub::test
