// tablepub::SetSubscriber against a real relay on a throwaway cluster: money
// moved between two tables in one transaction; the set's view must show the
// same total at every transaction boundary, across relay kills, and equal
// the tables at the end. Uses the integration tests' harness (tests/harness).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include "callback_failures.hpp"
#include "common/error.hpp"
#include "harness.hpp"
#include "tablepub/set_subscriber.hpp"
#include "tablepub/table_set_sync.hpp"

namespace tablepub::test {
namespace {

using namespace std::chrono_literals;
using testutil::poll_until_exceptions;
using testutil::wait_failure;
using testutil::what;

constexpr std::int64_t total = 200 * 1000;

class SetSubscriberIT : public ClusterTest {
protected:
    SetSubscriberIT() : ClusterTest("ss") {}

    void SetUp() override {
        ClusterTest::SetUp();
        publish_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-pub.sock";
        snapshot_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-snap.sock";
        db_.exec("CREATE TABLE a (id int PRIMARY KEY, balance bigint NOT NULL)");
        db_.exec("CREATE TABLE b (id int PRIMARY KEY, balance bigint NOT NULL)");
        db_.exec("INSERT INTO a SELECT g, 1000 FROM generate_series(1, 100) g");
        db_.exec("INSERT INTO b SELECT g, 1000 FROM generate_series(1, 100) g");
        db_.exec("SELECT tablepub.publish('a')");
        db_.exec("SELECT tablepub.publish('b')");
    }

    void TearDown() override {
        stop_writer();
        ClusterTest::TearDown();
    }

    RelayProcess& start_relay() {
        return start_relay_process({"--db", relay_conninfo_, "--publish", publish_, "--snapshot", snapshot_,
                                    "--poll-interval", "200ms", "--heartbeat-interval", "300ms", "--start-delay",
                                    "100ms"});
    }

    SetSubscriberOptions options() const {
        SetSubscriberOptions o;
        o.publish_endpoints = {publish_};
        o.snapshot_endpoints = {snapshot_};
        o.tables = {"public.a", "public.b"};
        o.request_timeout = 1500ms;
        return o;
    }

    // Transfers between random accounts of a and b, some rolled back; one
    // that a test's own transaction deadlocks with is rolled back. `pause`
    // between transactions caps the write rate (load, not synchronization).
    void start_writer(unsigned seed, std::chrono::milliseconds pause = 0ms) {
        writer_ = std::thread([this, seed, pause] {
            PgConnection w(conninfo_);
            std::mt19937 rng(seed);
            while (!stop_) {
                const auto from = std::to_string(rng() % 100 + 1), to = std::to_string(rng() % 100 + 1);
                const auto amount = std::to_string(rng() % 50 + 1);
                const bool ab = rng() % 2 == 0;
                try {
                    w.exec(std::string("BEGIN; UPDATE ") + (ab ? "a" : "b") + " SET balance = balance - " + amount +
                           " WHERE id = " + from + "; UPDATE " + (ab ? "b" : "a") + " SET balance = balance + " +
                           amount + " WHERE id = " + to + "; " + (rng() % 8 == 0 ? "ROLLBACK" : "COMMIT"));
                } catch (const DbError& e) {
                    if (e.sqlstate() != "40P01") throw;
                    w.exec("ROLLBACK");
                }
                if (pause > 0ms) std::this_thread::sleep_for(pause);
            }
        });
    }

    void stop_writer() {
        stop_ = true;
        if (writer_.joinable()) writer_.join();
    }

    static std::int64_t view_total(const TableSetSync& set) {
        std::int64_t sum = 0;
        for (const auto* t : {"public.a", "public.b"})
            set.mirror(t)->for_each([&](const Mirror::Row& r) { sum += r.at("balance").integer(); });
        return sum;
    }

    // The same through the installed API (plain Datum rows).
    static std::int64_t view_total(const SetView& view) {
        std::int64_t sum = 0;
        for (const auto* t : {"public.a", "public.b"})
            view.for_each_row(t, [&](const DatumRow& r) { sum += r.at("balance").integer; });
        return sum;
    }

    // The invariant checked at every boundary the set exposes (call it from
    // on_transaction and on_snapshot): how many it saw, and how many broke
    // the total. `sub` is set once the subscriber exists, before start().
    struct BoundaryCheck {
        std::atomic<std::uint64_t> boundaries{0}, violations{0};
        SetSubscriber* sub = nullptr;
        void operator()() {
            sub->read([this](const SetView& view) {
                ++boundaries;
                if (view_total(view) != total) ++violations;
            });
        }
    };

    bool caught_up(SetSubscriber& sub) {
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < until) {
            const auto st = sub.status();
            const auto pending = db_.exec(
                                        "SELECT count(*) FROM tablepub.outbox WHERE NOT pg_visible_in_snapshot("
                                        "txid, (SELECT consumed FROM tablepub.relay_state))")
                                     .int64(0, 0);
            const auto seqs =
                db_.exec("SELECT coalesce(sum(last_seq), 0) FROM tablepub.relay_stream WHERE table_name IN ('a', 'b')");
            if (pending == 0 && st.state == SetState::live && st.lag == 0 && st.buffered == 0 &&
                st.tables[0].last_seq + st.tables[1].last_seq == static_cast<std::uint64_t>(seqs.int64(0, 0)))
                return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    // The view holds the total and equals the tables row by row.
    void expect_view_equals_tables(const SetSubscriber& sub) {
        sub.with_view([&](const TableSetSync& set) {
            EXPECT_EQ(view_total(set), total);
            for (const auto* t : {"a", "b"}) {
                const auto rows = db_.exec(std::string("SELECT id, balance FROM ") + t + " ORDER BY id");
                const auto* m = set.mirror(std::string("public.") + t);
                ASSERT_EQ(m->size(), static_cast<std::size_t>(rows.rows()));
                for (int i = 0; i < rows.rows(); ++i) {
                    google::protobuf::RepeatedPtrField<v1::Column> key;
                    auto* k = key.Add();
                    k->set_name("id");
                    k->mutable_value()->set_integer(rows.int64(i, 0));
                    const auto* row = m->find(key);
                    ASSERT_NE(row, nullptr);
                    EXPECT_EQ(row->at("balance").integer(), rows.int64(i, 1)) << t << " id " << rows.int64(i, 0);
                }
            }
        });
    }

    std::string publish_, snapshot_;
    std::thread writer_;
    std::atomic<bool> stop_{false};
};

TEST_F(SetSubscriberIT, TotalHoldsAtEveryBoundaryAcrossRelayKills) {
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    start_writer(1);
    std::this_thread::sleep_for(700ms);  // join mid-stream

    BoundaryCheck check;
    std::uint64_t changes = 0, odd_changes = 0;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction& tx) {
        changes += tx.changes.size();
        // The writer only moves balances: every change is an UPDATE of one
        // account's balance, in plain types.
        for (const auto& c : tx.changes)
            if (c.op != ChangeOp::update || !c.key.contains("id") || !c.values.contains("balance")) ++odd_changes;
        check();
    };
    cb.on_snapshot = [&](std::uint64_t) { check(); };
    SetSubscriber sub(options(), cb);
    check.sub = &sub;
    sub.start();
    for (int round = 0; round < 2; ++round) {
        std::this_thread::sleep_for(700ms);
        relays_.back()->kill9();
        std::this_thread::sleep_for(300ms);
        ASSERT_TRUE(start_relay().wait_log("publishing on"));
    }
    std::this_thread::sleep_for(500ms);
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status().state) << " position " << sub.status().position
                                << " latest " << sub.status().latest_position;
    sub.stop();

    const auto st = sub.status();
    EXPECT_EQ(check.violations, 0u) << "of " << check.boundaries << " boundaries";
    EXPECT_GT(st.stats.transactions, 10u);
    EXPECT_GT(changes, 20u);
    EXPECT_EQ(odd_changes, 0u);
    EXPECT_EQ(st.stats.snapshots, 1u);
    EXPECT_EQ(st.stats.resyncs, 0u);
    EXPECT_EQ(st.stats.anomalies, 0u);
    expect_view_equals_tables(sub);
}

// An on_transaction that throws: with poll() the exception leaves poll();
// with start() it stops the thread (no std::terminate) and failure() shows
// it; polling or starting again goes on, and no transaction is lost or
// doubled.
TEST_F(SetSubscriberIT, CallbackExceptionNeitherKillsTheProcessNorLosesATransaction) {
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    start_writer(2);
    // Written on the polling thread; read once poll() returned or the
    // thread stopped.
    std::vector<std::uint64_t> positions;
    std::uint64_t thrown = 0;
    int throws = 0;
    // At most one exception per poll step (see SubscriberIT's test of the
    // same name): re-armed once the test caught it.
    bool armed = true;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction& tx) {
        positions.push_back(tx.position);
        if (armed && throws < 3 && positions.size() >= 20u * static_cast<std::size_t>(throws + 1)) {
            armed = false;
            ++throws;
            thrown = tx.position;
            throw std::runtime_error("callback failed at position " + std::to_string(tx.position));
        }
    };
    SetSubscriber sub(options(), cb);
    ASSERT_EQ(poll_until_exceptions(sub, 2,
                                    [&] {
                                        armed = true;
                                        return "callback failed at position " + std::to_string(thrown);
                                    }),
              2);
    sub.start();
    const auto failure = wait_failure(sub);
    ASSERT_TRUE(failure) << "the third exception should have stopped the thread";
    EXPECT_EQ(what(failure), "callback failed at position " + std::to_string(thrown));
    sub.start();
    EXPECT_FALSE(sub.failure());
    std::this_thread::sleep_for(500ms);
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status().state) << " position " << sub.status().position
                                << " latest " << sub.status().latest_position;
    sub.stop();
    EXPECT_FALSE(sub.failure());
    const auto st = sub.status();
    EXPECT_GT(positions.size(), 60u);
    EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()) &&
                std::adjacent_find(positions.begin(), positions.end()) == positions.end())
        << "a transaction was reported twice";
    EXPECT_EQ(positions.size(), st.stats.transactions) << "every applied transaction is reported once";
    EXPECT_EQ(st.stats.snapshots, 1u);
    EXPECT_EQ(st.stats.resyncs, 0u);
    EXPECT_EQ(st.stats.anomalies, 0u);
    expect_view_equals_tables(sub);
}

// Two tables whose names join to the same topic: s."t.u" (in the set) and
// "s.t".u (not in it) both publish on "s.t.u" (docs/protocol.md section 2).
// The set must tell them apart by the names every message and range carry:
// taking the other table's messages and ranges for its own put the other
// table's row into the view and dropped the set table's own change as a
// "duplicate" of the same seq.
TEST_F(SetSubscriberIT, TableOfAnotherSchemaOnTheSameTopicStaysOutOfTheView) {
    db_.exec("CREATE SCHEMA s");
    db_.exec("CREATE SCHEMA \"s.t\"");
    db_.exec("CREATE TABLE s.\"t.u\" (id int PRIMARY KEY, v text NOT NULL)");
    db_.exec("CREATE TABLE \"s.t\".u (id int PRIMARY KEY, w int NOT NULL)");
    db_.exec("SELECT tablepub.publish('s.\"t.u\"')");
    db_.exec("SELECT tablepub.publish('\"s.t\".u')");
    ASSERT_TRUE(start_relay().wait_log("publishing on"));

    auto o = options();
    o.tables = {"s.t.u", "public.a"};
    std::atomic<bool> snapshot{false};
    SetCallbacks cb;
    cb.on_snapshot = [&](std::uint64_t) { snapshot = true; };
    SetSubscriber sub(o, cb);
    sub.start();
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!snapshot && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(snapshot) << "state " << to_string(sub.status().state) << ": " << sub.status().reason;

    db_.exec("INSERT INTO \"s.t\".u VALUES (1001, 7)");
    db_.exec(
        "BEGIN; INSERT INTO s.\"t.u\" VALUES (1, 'mine'); UPDATE a SET balance = balance + 1 WHERE id = 1; COMMIT");
    db_.exec("INSERT INTO \"s.t\".u VALUES (1002, 8)");
    // Caught up: nothing left in the outbox, and the set's position is the
    // relay's last.
    bool done = false;
    while (!done && std::chrono::steady_clock::now() < until) {
        const auto pending = db_.exec(
                                    "SELECT count(*) FROM tablepub.outbox WHERE NOT pg_visible_in_snapshot("
                                    "txid, (SELECT consumed FROM tablepub.relay_state))")
                                 .int64(0, 0);
        const auto last = db_.exec("SELECT last_position FROM tablepub.relay_state").int64(0, 0);
        const auto st = sub.status();
        done = pending == 0 && st.state == SetState::live && st.buffered == 0 &&
               st.position == static_cast<std::uint64_t>(last);
        if (!done) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(done) << "state " << to_string(sub.status().state) << ": " << sub.status().reason;
    sub.stop();

    std::vector<std::int64_t> ids;
    std::string v;
    std::int64_t balance = 0;
    sub.read([&](const SetView& view) {
        view.for_each_row("s.t.u", [&](const DatumRow& r) {
            ids.push_back(r.at("id").integer);
            if (r.contains("v")) v = r.at("v").bytes;
        });
        view.for_each_row("public.a", [&](const DatumRow& r) {
            if (r.at("id").integer == 1) balance = r.at("balance").integer;
        });
    });
    EXPECT_EQ(ids, std::vector<std::int64_t>{1});
    EXPECT_EQ(v, "mine");
    EXPECT_EQ(balance, 1001);
    const auto st = sub.status();
    EXPECT_EQ(st.stats.anomalies, 0u);
    EXPECT_EQ(st.stats.resyncs, 0u);
}

// The relay killed (SIGKILL) while it publishes one large transaction
// across tables: a's part went out, b's part and the Transaction on ".tx"
// had not. The set must never show a debited without b credited, and the
// restarted relay must republish every message with the bytes it had
// (same seqs, same positions).
TEST_F(SetSubscriberIT, RelayKilledInsideATransactionAcrossTablesShowsNoHalf) {
    db_.exec("CREATE TABLE big (id int PRIMARY KEY)");
    db_.exec("SELECT tablepub.publish('big')");
    ASSERT_TRUE(start_relay().wait_log("publishing on"));

    BoundaryCheck check;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction&) { check(); };
    std::atomic<bool> snapshot{false};
    cb.on_snapshot = [&](std::uint64_t) { snapshot = true; };
    SetSubscriber sub(options(), cb);
    check.sub = &sub;
    sub.start();

    // Every message as published (topic, seq) -> bytes; the kill waits for
    // the first message of a's part.
    zmq::context_t ctx;
    zmq::socket_t raw(ctx, zmq::socket_type::sub);
    raw.set(zmq::sockopt::subscribe, "");
    raw.set(zmq::sockopt::reconnect_ivl, 10);
    raw.connect(publish_);
    std::map<std::pair<std::string, std::uint64_t>, std::string> seen;
    std::uint64_t again = 0, differing = 0;
    auto receive = [&](std::chrono::milliseconds timeout) -> std::pair<std::string, v1::Message> {
        zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, timeout) <= 0) return {};
        zmq::message_t topic, body;
        (void)raw.recv(topic);
        if (!topic.more()) return {};
        (void)raw.recv(body);
        v1::Message m;
        if (!m.ParseFromArray(body.data(), static_cast<int>(body.size())) || m.has_heartbeat()) return {};
        const auto [it, fresh] = seen.try_emplace({topic.to_string(), m.seq()}, body.to_string());
        if (!fresh) {
            ++again;
            if (it->second != body.to_string()) ++differing;
        }
        return {topic.to_string(), m};
    };
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!snapshot && std::chrono::steady_clock::now() < until) receive(20ms);
    ASSERT_TRUE(snapshot) << "state " << to_string(sub.status().state) << ": " << sub.status().reason;

    // a's part first, then many messages of a table outside the set, then
    // b's part: a wide window between them.
    PgConnection w(conninfo_);
    w.exec("BEGIN");
    w.exec("UPDATE a SET balance = balance - 500 WHERE id = 1");
    w.exec("INSERT INTO big SELECT g FROM generate_series(1, 30000) g");
    w.exec("UPDATE b SET balance = balance + 500 WHERE id = 1");
    const auto txid = static_cast<std::uint64_t>(w.exec("SELECT pg_current_xact_id()::text::bigint").int64(0, 0));
    w.exec("COMMIT");
    bool killed = false;
    while (!killed && std::chrono::steady_clock::now() < until) {
        const auto [topic, m] = receive(20ms);
        if (topic == "public.a" && m.txid() == txid) {
            relays_.back()->kill9();
            killed = true;
        }
    }
    ASSERT_TRUE(killed) << "a's part of the transaction was never published";
    const auto published_b = seen.contains({"public.b", 2});
    const auto published_tx = std::any_of(seen.begin(), seen.end(), [&](const auto& e) {
        v1::Message m;
        return e.first.first == ".tx" && m.ParseFromString(e.second) && m.txid() == txid;
    });
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    // Until the restarted relay published the Transaction and the set
    // applied it, comparing what is published again.
    bool done = false, republished = false;
    while (!done && std::chrono::steady_clock::now() < until) {
        const auto [topic, m] = receive(20ms);
        republished = republished || (topic == ".tx" && m.txid() == txid);
        std::int64_t a1 = 0;
        sub.read([&](const SetView& view) {
            view.for_each_row("public.a", [&](const DatumRow& r) {
                if (r.at("id").integer == 1) a1 = r.at("balance").integer;
            });
        });
        done = republished && a1 == 500;
    }
    ASSERT_TRUE(done) << "state " << to_string(sub.status().state) << ": " << sub.status().reason;
    sub.stop();

    const auto st = sub.status();
    EXPECT_EQ(check.violations, 0u) << "of " << check.boundaries << " boundaries";
    // Messages the raw socket received from both relays (it may miss the
    // republication while it reconnects; the set replays what it missed and
    // checks txid and position of every message it applies).
    EXPECT_EQ(differing, 0u) << "messages republished with other bytes, of " << again;
    EXPECT_EQ(st.stats.resyncs, 0u);
    EXPECT_EQ(st.stats.anomalies, 0u);
    expect_view_equals_tables(sub);
    RecordProperty("killed_before_b", published_b ? "no" : "yes");
    RecordProperty("killed_before_tx", published_tx ? "no" : "yes");
    std::cerr << "killed before b's part: " << (published_b ? "no" : "yes")
              << ", before the Transaction: " << (published_tx ? "no" : "yes") << "\n";
}

// DDL on one table of the set while money moves and the set resyncs:
// b emptied and refilled (TRUNCATE, with a reset in one transaction) and
// rewritten (ALTER COLUMN ... TYPE: a RESYNC). Every snapshot the set
// takes meanwhile races these; none may show a state the tables never had.
TEST_F(SetSubscriberIT, TruncateAndRewriteOfATableOfTheSetNeverShowAMixedView) {
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    std::atomic<std::uint64_t> snapshots{0};
    BoundaryCheck check;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction&) { check(); };
    cb.on_snapshot = [&](std::uint64_t) {
        ++snapshots;
        check();
    };
    SetSubscriber sub(options(), cb);
    check.sub = &sub;
    sub.start();

    start_writer(7);
    PgConnection ddl(conninfo_);
    const auto until = std::chrono::steady_clock::now() + 60s;
    // Live first: a rewrite the first snapshot contains needs no resync.
    while (std::chrono::steady_clock::now() < until && !(snapshots > 0 && sub.status().state == SetState::live))
        std::this_thread::sleep_for(20ms);
    for (int round = 0; round < 3; ++round) {
        // Each round waits for the set to be live again at a position past
        // the last DDL, so that the next DDL races a fresh snapshot.
        const auto resyncs = sub.status().stats.resyncs;
        ddl.exec(
            "BEGIN; TRUNCATE b; INSERT INTO b SELECT g, 1000 FROM generate_series(1, 100) g;"
            " UPDATE a SET balance = 1000; COMMIT");
        ddl.exec("ALTER TABLE b ALTER COLUMN balance TYPE bigint USING balance + 0");
        while (std::chrono::steady_clock::now() < until &&
               !(sub.status().stats.resyncs > resyncs && sub.status().state == SetState::live))
            std::this_thread::sleep_for(20ms);
    }
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status().state) << ": " << sub.status().reason;
    sub.stop();
    const auto st = sub.status();
    EXPECT_EQ(check.violations, 0u) << "of " << check.boundaries << " boundaries";
    EXPECT_GE(st.stats.resyncs, 3u) << "every rewrite resyncs the set";
    EXPECT_EQ(st.stats.anomalies, 0u);
    expect_view_equals_tables(sub);
}

// Transactions larger than the set's max_buffered (every account of a and
// b at once: 200 messages, the bound 150) among small ones, and a buffer
// that overflows while snapshots and replays run: the set resyncs for each
// large one (its new snapshot contains it), drops and replays what did not
// fit, and still never shows a wrong total.
TEST_F(SetSubscriberIT, TransactionsLargerThanMaxBufferedResyncAndShowNoHalf) {
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    BoundaryCheck check;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction&) { check(); };
    auto o = options();
    // A set that fell behind catches up max_buffered transactions per
    // replay round trip: with 64 and a writer at full speed it once stayed
    // 38,000 transactions behind for as long as the writer ran. Here the
    // writer is capped far below what the set catches up.
    o.sync.max_buffered = 150;
    std::atomic<bool> snapshot{false};
    cb.on_snapshot = [&](std::uint64_t) {
        snapshot = true;
        check();
    };
    SetSubscriber sub(o, cb);
    check.sub = &sub;
    sub.start();
    start_writer(3, 5ms);
    // Live first: a transaction the first snapshot contains needs no resync.
    const auto joined = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < joined && !(snapshot && sub.status().state == SetState::live))
        std::this_thread::sleep_for(20ms);
    PgConnection big(conninfo_);
    for (int round = 0; round < 5; ++round) {
        const auto resyncs = sub.status().stats.resyncs;
        for (bool done = false; !done;) {
            try {
                big.exec("BEGIN; UPDATE a SET balance = balance - 3; UPDATE b SET balance = balance + 3; COMMIT");
                done = true;
            } catch (const DbError& e) {
                if (e.sqlstate() != "40P01") throw;  // the writer's deadlock victim is sometimes us
                big.exec("ROLLBACK");
            }
        }
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (std::chrono::steady_clock::now() < until &&
               !(sub.status().stats.resyncs > resyncs && sub.status().state == SetState::live))
            std::this_thread::sleep_for(20ms);
    }
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status().state) << ": " << sub.status().reason;
    sub.stop();
    const auto st = sub.status();
    EXPECT_EQ(check.violations, 0u) << "of " << check.boundaries << " boundaries";
    EXPECT_EQ(st.stats.anomalies, 0u);
    EXPECT_GT(st.stats.transactions, 0u);
    EXPECT_GE(st.stats.resyncs, 5u) << "every large transaction resyncs the set";
    std::cerr << "resyncs " << st.stats.resyncs << ", dropped " << st.stats.dropped << ", replays " << st.stats.replays
              << ", transactions " << st.stats.transactions << "\n";
    expect_view_equals_tables(sub);
}

// A careless operator connects the set to the publish endpoints of two
// endpoint groups: the default one (all tables) and one that carries only
// a (or an active and a standby relay whose groups differ). Both publish a
// Transaction for every position, but group x's lists only a's range.
// Whichever arrives first must not make the set apply a transaction
// without b's part (and silently skip b's messages).
//
// It used to fail: the set kept the first Transaction of a position and
// dropped the other as a duplicate; x's, on the less busy connection,
// usually won (246 of 300 boundaries showed a half transaction, then
// anomalies and resyncs). Now every Transaction and SnapshotBegin names its
// group, and the set takes only the Transactions of its snapshot's group
// (docs/protocol.md section 9).
TEST_F(SetSubscriberIT, TwoEndpointGroupsNeverMakeTheSetSkipATablesPart) {
    const auto group_pub = "ipc://" + cluster_->dir() + "/" + dbname_ + "-x-pub.sock";
    ASSERT_TRUE(start_relay_process({"--db", relay_conninfo_, "--publish", publish_, "--snapshot", snapshot_, "--group",
                                     "x:pub=" + group_pub + ",tables=public.a", "--poll-interval", "200ms",
                                     "--heartbeat-interval", "300ms", "--start-delay", "100ms"})
                    .wait_log("publishing on"));
    BoundaryCheck check;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction&) { check(); };
    auto o = options();
    o.publish_endpoints = {publish_, group_pub};
    SetSubscriber sub(o, cb);
    check.sub = &sub;
    sub.start();
    start_writer(4, 2ms);
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < until && sub.status().stats.transactions < 300)
        std::this_thread::sleep_for(20ms);
    stop_writer();
    const bool caught = caught_up(sub);
    sub.stop();
    const auto st = sub.status();
    EXPECT_EQ(check.violations, 0u) << "of " << check.boundaries << " boundaries";
    EXPECT_EQ(st.stats.anomalies, 0u);
    ASSERT_TRUE(caught) << "state " << to_string(st.state) << ": " << st.reason;
    expect_view_equals_tables(sub);
}

}  // namespace
}  // namespace tablepub::test
