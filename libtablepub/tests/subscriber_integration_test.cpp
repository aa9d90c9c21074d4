// tablepub::Subscriber against a real relay (the tablepub-relay binary with
// --snapshot) on a throwaway cluster: joining mid-stream, a relay killed and
// restarted, error replies. Uses the integration tests' harness (tests/harness).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include "callback_failures.hpp"
#include "harness.hpp"
#include "tablepub/subscriber.hpp"
#include "tablepub/table_sync.hpp"

namespace tablepub::test {
namespace {

using namespace std::chrono_literals;
using Subscriber = tablepub::Subscriber;  // not the harness's raw SUB collector
using testutil::poll_until_exceptions;
using testutil::wait_failure;
using testutil::what;

class SubscriberIT : public ClusterTest {
protected:
    SubscriberIT() : ClusterTest("s") {}

    void SetUp() override {
        ClusterTest::SetUp();
        publish_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-pub.sock";
        snapshot_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-snap.sock";
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

    SubscriberOptions options(std::vector<std::string> tables) const {
        SubscriberOptions o;
        o.publish_endpoints = {publish_};
        o.snapshot_endpoints = {snapshot_};
        o.tables = std::move(tables);
        o.request_timeout = 1500ms;
        o.sync.unpublished_retry = 300ms;
        return o;
    }

    // Random single-row changes of t(id, v, n) in small transactions, some
    // rolled back, from a thread of its own, until stop_writer().
    void start_writer(unsigned seed) {
        writer_ = std::thread([this, seed] {
            PgConnection w(conninfo_);
            std::mt19937 rng(seed);
            while (!stop_) {
                const int id = static_cast<int>(rng() % 3000) + 1;
                const auto v = std::to_string(rng() % 1000);
                std::string sql = "BEGIN;";
                switch (rng() % 5) {
                    case 0: sql += "DELETE FROM t WHERE id = " + std::to_string(id) + ";"; break;
                    case 1:
                        sql += "INSERT INTO t VALUES (" + std::to_string(id) + ", 'i" + v + "', " + v +
                               ".5) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;";
                        break;
                    case 2:
                        sql += "UPDATE t SET id = id + 3000 WHERE id = " + std::to_string(id) +
                               " AND NOT EXISTS (SELECT FROM t WHERE id = " + std::to_string(id + 3000) + ");";
                        break;
                    default:
                        sql += "UPDATE t SET v = NULL, n = n + 1 WHERE id = " + std::to_string(id) + ";";
                        sql += "UPDATE t SET v = 'u" + v + "' WHERE id = " + std::to_string(id % 100 + 1) + ";";
                }
                sql += rng() % 6 == 0 ? "ROLLBACK" : "COMMIT";
                w.exec(sql);
                ++writes_;
            }
        });
    }

    // Multi-row statements on t (packed outbox rows: docs/design.md,
    // "Packed rows"), mixed with single-row ones, in small transactions,
    // some rolled back, until stop_writer().
    void start_pack_writer(unsigned seed) {
        writer_ = std::thread([this, seed] {
            PgConnection w(conninfo_);
            std::mt19937 rng(seed);
            while (!stop_) {
                const auto lo = std::to_string(rng() % 2900 + 1), hi = std::to_string(rng() % 2900 + 31);
                const auto v = std::to_string(rng() % 1000);
                std::string sql = "BEGIN;";
                sql += "UPDATE t SET v = 'p" + v + "', n = n + 1 WHERE id BETWEEN " + lo + " AND " + lo + " + 20;";
                if (rng() % 2) sql += "UPDATE t SET v = NULL WHERE id = " + hi + ";";
                sql += "INSERT INTO t SELECT g, 'm' || g, g FROM generate_series(" + hi + ", " + hi +
                       " + 15) g ON CONFLICT (id) DO UPDATE SET n = t.n + 0.5;";
                if (rng() % 3 == 0) sql += "DELETE FROM t WHERE id BETWEEN " + lo + " + 5 AND " + lo + " + 9;";
                sql += rng() % 6 == 0 ? "ROLLBACK" : "COMMIT";
                w.exec(sql);
                ++writes_;
            }
        });
    }

    void stop_writer() {
        stop_ = true;
        if (writer_.joinable()) writer_.join();
    }

    // The relay's durable last seq of a table.
    std::uint64_t relay_seq(const std::string& table) {
        auto r = db_.exec("SELECT last_seq FROM tablepub.relay_stream WHERE table_name = '" + table + "'");
        return r.rows() == 1 ? static_cast<std::uint64_t>(r.int64(0, 0)) : 0;
    }

    // Outbox rows of committed transactions the relay has not published yet.
    std::int64_t unpublished_rows() {
        return db_
            .exec(
                "SELECT count(*) FROM tablepub.outbox"
                " WHERE NOT pg_visible_in_snapshot(txid, (SELECT consumed FROM tablepub.relay_state))")
            .int64(0, 0);
    }

    // Waits until the relay has published every committed change (call it
    // after the writers stopped) and the subscriber is live at the relay's
    // durable seq of t. Without the first condition a subscriber live at a
    // relay that has not yet drained the last commits looks caught up, and
    // its mirror lacks them.
    bool caught_up(Subscriber& sub, std::chrono::seconds timeout = 20s) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            const auto st = sub.status();
            if (unpublished_rows() == 0 && sub.all_live() && st.size() == 1 && st[0].last_seq == relay_seq("t") &&
                st[0].last_seq > 0)
                return true;
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    // Every row of t equals the mirror's row, and nothing else is there.
    void expect_mirror_equals_table(const Subscriber& sub) {
        const auto rows = db_.exec("SELECT id, v, n::text FROM t ORDER BY id");
        ASSERT_TRUE(sub.with_table("public.t", [&](const TableSync& sync) {
            const auto& mirror = sync.mirror();
            ASSERT_EQ(mirror.size(), static_cast<std::size_t>(rows.rows()));
            for (int i = 0; i < rows.rows(); ++i) {
                google::protobuf::RepeatedPtrField<v1::Column> key;
                auto* k = key.Add();
                k->set_name("id");
                k->mutable_value()->set_integer(rows.int64(i, 0));
                const auto* row = mirror.find(key);
                ASSERT_NE(row, nullptr) << "row id " << rows.text(i, 0) << " missing from the mirror";
                const auto& v = row->at("v");
                if (rows.is_null(i, 1))
                    EXPECT_EQ(v.kind_case(), v1::Value::kNull) << "id " << rows.text(i, 0);
                else
                    EXPECT_EQ(v.text(), rows.text(i, 1)) << "id " << rows.text(i, 0);
                EXPECT_EQ(row->at("n").numeric(), rows.text(i, 2)) << "id " << rows.text(i, 0);
            }
        }));
    }

    void join_mid_stream_and_check(bool packs);

    std::string publish_, snapshot_;
    std::thread writer_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> writes_{0};
};

void create_table(PgConnection& db) {
    db.exec("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(10,1))");
    db.exec("INSERT INTO t SELECT g, 'v' || g, g FROM generate_series(1, 3000) g");
    db.exec("SELECT tablepub.publish('t')");
}

// Joins while a writer is well under way (single-row changes, or with
// `packs` multi-row statements whose changes come from packed outbox rows),
// catches up, and its mirror equals the table: no resync, no anomaly, every
// applied change reported once.
void SubscriberIT::join_mid_stream_and_check(bool packs) {
    create_table(db_);
    auto& relay = start_relay();
    ASSERT_TRUE(relay.wait_log("publishing on"));
    if (packs) {
        start_pack_writer(7);
    } else {
        start_writer(1);
    }
    std::this_thread::sleep_for(1s);  // the stream is well under way when we join
    if (packs) {
        ASSERT_GT(
            db_.exec("SELECT count(*) FROM tablepub.outbox WHERE substring(change FROM 1 FOR 1) = '\\x00'").int64(0, 0),
            0)
            << "no packed row: the test proves nothing";
    }
    std::atomic<std::uint64_t> snapshot_rows{0}, changes{0};
    SyncCallbacks cb;
    cb.on_snapshot_row = [&](const std::string&, const v1::Change&) { ++snapshot_rows; };
    cb.on_change = [&](const std::string&, const v1::Message&) { ++changes; };
    Subscriber sub(options({"public.t"}), cb);
    sub.start();
    std::this_thread::sleep_for(2s);
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status()[0].state) << " seq " << sub.status()[0].last_seq
                                << " relay " << relay_seq("t");
    sub.stop();
    expect_mirror_equals_table(sub);
    const auto st = sub.status()[0];
    EXPECT_GT(st.stats.applied, 0u) << "the subscriber should have applied live changes";
    EXPECT_GT(snapshot_rows.load(), 2000u);
    EXPECT_EQ(changes.load(), st.stats.applied);
    EXPECT_EQ(st.stats.snapshots, 1u);
    EXPECT_EQ(st.stats.resyncs, 0u);
    EXPECT_EQ(st.stats.anomalies, 0u);
}

TEST_F(SubscriberIT, JoinsMidStreamAndMirrorEqualsTable) { join_mid_stream_and_check(false); }

// Nearly every message comes from a packed outbox row, so the subscriber
// joins (its snapshot's seq and its first live message) inside a pack, and
// replays the rest of it.
TEST_F(SubscriberIT, JoinsMidPackAndMirrorEqualsTable) { join_mid_stream_and_check(true); }

// An on_change that throws: with poll() the exception leaves poll(); with
// start() it stops the thread (no std::terminate) and failure() shows it;
// polling or starting again goes on, and no change is lost or doubled.
TEST_F(SubscriberIT, CallbackExceptionNeitherKillsTheProcessNorLosesAChange) {
    create_table(db_);
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    start_writer(3);
    // Written on the polling thread; read once poll() returned or the
    // thread stopped.
    std::vector<std::uint64_t> seqs;
    std::uint64_t thrown = 0;
    int throws = 0;
    // At most one exception per poll step: the step goes on after a
    // callback threw and poll() re-raises the step's first exception only,
    // so a second throw in the same step would never be seen; the test
    // arms the callback again once it caught the exception.
    bool armed = true;
    SyncCallbacks cb;
    cb.on_change = [&](const std::string&, const v1::Message& m) {
        seqs.push_back(m.seq());
        if (armed && throws < 3 && seqs.size() >= 40u * static_cast<std::size_t>(throws + 1)) {
            armed = false;
            ++throws;
            thrown = m.seq();
            throw std::runtime_error("callback failed at seq " + std::to_string(m.seq()));
        }
    };
    Subscriber sub(options({"public.t"}), cb);
    ASSERT_EQ(poll_until_exceptions(sub, 2,
                                    [&] {
                                        armed = true;
                                        return "callback failed at seq " + std::to_string(thrown);
                                    }),
              2);
    sub.start();
    const auto failure = wait_failure(sub);
    ASSERT_TRUE(failure) << "the third exception should have stopped the thread";
    EXPECT_EQ(what(failure), "callback failed at seq " + std::to_string(thrown));
    sub.stop();
    EXPECT_TRUE(sub.failure()) << "stop() keeps the failure";
    sub.start();
    EXPECT_FALSE(sub.failure()) << "start() again forgets it";
    std::this_thread::sleep_for(500ms);
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status()[0].state) << " seq " << sub.status()[0].last_seq
                                << " relay " << relay_seq("t");
    sub.stop();
    EXPECT_FALSE(sub.failure());
    expect_mirror_equals_table(sub);
    const auto st = sub.status()[0];
    EXPECT_GT(seqs.size(), 120u);
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()) && std::adjacent_find(seqs.begin(), seqs.end()) == seqs.end())
        << "a change was reported twice";
    EXPECT_EQ(seqs.size(), st.stats.applied) << "every applied change is reported once";
    EXPECT_EQ(st.stats.snapshots, 1u);
    EXPECT_EQ(st.stats.resyncs, 0u);
    EXPECT_EQ(st.stats.anomalies, 0u);
}

// A rename there and back inside one transaction (t -> u -> t) leaves the
// table on its topic: its subscriber applies the transaction exactly, with
// no anomaly, no resync and no stop in state moved.
TEST_F(SubscriberIT, RenameThereAndBackInOneTransactionIsExact) {
    create_table(db_);
    start_relay();
    Subscriber sub(options({"public.t"}));
    sub.start();
    ASSERT_TRUE(caught_up(sub));
    db_.exec(
        "BEGIN; UPDATE t SET v = 'before' WHERE id = 1; ALTER TABLE t RENAME TO u;"
        "UPDATE u SET v = 'middle' WHERE id = 2; DELETE FROM u WHERE id = 5; ALTER TABLE u RENAME TO t;"
        "UPDATE t SET v = 'after' WHERE id = 3; INSERT INTO t VALUES (9001, 'new', 1); COMMIT");
    db_.exec("UPDATE t SET v = 'later' WHERE id = 4");
    ASSERT_TRUE(caught_up(sub));
    const auto st = sub.status().at(0);
    EXPECT_EQ(st.state, SyncState::live) << st.reason;
    EXPECT_EQ(st.stats.anomalies, 0u);
    EXPECT_EQ(st.stats.resyncs, 0u) << st.reason;
    EXPECT_EQ(st.stats.snapshots, 1u);
    sub.stop();
    ASSERT_FALSE(sub.failure());
    expect_mirror_equals_table(sub);
}

TEST_F(SubscriberIT, SurvivesRelayKillAndRestart) {
    create_table(db_);
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    Subscriber sub(options({"public.t"}));
    sub.start();
    start_writer(2);
    for (int round = 0; round < 3; ++round) {
        std::this_thread::sleep_for(700ms);
        relays_.back()->kill9();
        std::this_thread::sleep_for(300ms);  // writes go on while no relay runs
        ASSERT_TRUE(start_relay().wait_log("publishing on"));
    }
    std::this_thread::sleep_for(700ms);
    stop_writer();
    ASSERT_TRUE(caught_up(sub)) << "state " << to_string(sub.status()[0].state) << " seq " << sub.status()[0].last_seq
                                << " relay " << relay_seq("t");
    sub.stop();
    expect_mirror_equals_table(sub);
    const auto st = sub.status()[0];
    EXPECT_GT(writes_.load(), 50u);
    EXPECT_EQ(st.stats.resyncs, 0u) << "a relay restart must not need a new snapshot";
    EXPECT_EQ(st.stats.anomalies, 0u);
}

// TRUNCATE and table-rewriting ALTERs are not MVCC-safe: a snapshot that
// took its MVCC snapshot before locking the table read the rewritten file
// and saw 0 rows. The table has 200k rows in every committed state, so
// every snapshot must have 200k rows, whatever runs meanwhile.
TEST_F(SubscriberIT, SnapshotNeverSeesATruncateOrRewriteFromTheFuture) {
    constexpr int ROWS = 200'000, JOINS = 6;
    const std::string fill =
        "INSERT INTO big SELECT g, 'v' || g, g FROM generate_series(1, " + std::to_string(ROWS) + ") g";
    db_.exec("CREATE TABLE big (id int PRIMARY KEY, v text, x int)");
    db_.exec(fill);
    db_.exec("SELECT tablepub.publish('big', exclude_columns => '{x}')");
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    std::atomic<int> cycles{0};
    writer_ = std::thread([&] {
        PgConnection w(conninfo_);
        // A refill publishes 200k messages that every subscriber must take
        // in; rewrites publish at most a SCHEMA message: one refill per
        // three rewrites keeps a loaded machine's subscribers keeping up.
        for (int i = 0; !stop_; ++i) {
            switch (i % 4) {
                case 0: w.exec("BEGIN; TRUNCATE big; " + fill + "; COMMIT"); break;
                case 1:
                    w.exec(std::string("ALTER TABLE big ALTER COLUMN x TYPE ") + (i % 8 == 1 ? "int8" : "int4"));
                    break;
                case 2:
                    w.exec(std::string("ALTER TABLE big ALTER COLUMN v TYPE ") + (i % 8 == 2 ? "varchar(20)" : "text"));
                    break;
                default:
                    w.exec(
                        "BEGIN; ALTER TABLE big ALTER COLUMN x TYPE int8; ALTER TABLE big ALTER COLUMN x TYPE int4; "
                        "COMMIT");
            }
            ++cycles;
        }
    });
    auto opts = options({"public.big"});
    // A snapshot waits for the lock of a refill in progress, and a client
    // that gives up a stream does not cancel it: the abandoned stream would
    // hold its lock until the relay's idle timeout, and the next ALTER and
    // every snapshot queued behind it would wait as long.
    opts.request_timeout = 120s;
    std::vector<std::uint64_t> sizes;
    for (int join = 0; join < JOINS; ++join) {
        std::mutex mu;
        std::condition_variable cv;
        std::optional<std::uint64_t> rows;
        SyncCallbacks cb;
        cb.on_snapshot_end = [&](const std::string&, std::uint64_t n) {
            std::lock_guard lock(mu);
            if (!rows) rows = n;
            cv.notify_all();
        };
        Subscriber sub(opts, cb);
        sub.start();
        {
            std::unique_lock lock(mu);
            ASSERT_TRUE(cv.wait_for(lock, 150s, [&] { return rows.has_value(); })) << "join " << join;
            sizes.push_back(*rows);
        }
        sub.stop();
        EXPECT_EQ(sub.status()[0].stats.anomalies, 0u) << "join " << join;
    }
    stop_writer();
    EXPECT_GT(cycles.load(), 2);
    for (std::size_t j = 0; j < sizes.size(); ++j)
        EXPECT_EQ(sizes[j], static_cast<std::uint64_t>(ROWS)) << "join " << j;
}

TEST_F(SubscriberIT, ErrorRepliesForUnpublishedUnknownAndExcluded) {
    db_.exec("CREATE TABLE secret (id int PRIMARY KEY, v text)");
    db_.exec("CREATE TABLE u (id int PRIMARY KEY, pw text)");
    db_.exec("SELECT tablepub.publish('u', exclude_columns => '{pw}')");
    ASSERT_TRUE(start_relay().wait_log("publishing on"));
    std::mutex mu;
    std::map<std::string, std::string> why;
    SyncCallbacks cb;
    cb.on_state = [&](const std::string& table, SyncState, SyncState to, const std::string& reason) {
        std::lock_guard lock(mu);
        why[table] = std::string(to_string(to)) + ": " + reason;
    };
    Subscriber sub(options({"public.secret", "public.nosuch"}), cb);
    auto excluded_options = options({"public.u"});
    excluded_options.sync.columns = {"pw"};
    Subscriber excluded(excluded_options, cb);
    sub.start();
    excluded.start();
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
        {
            std::lock_guard lock(mu);
            if (why.size() == 3) break;
        }
        std::this_thread::sleep_for(50ms);
    }
    sub.stop();
    excluded.stop();
    std::lock_guard lock(mu);
    EXPECT_EQ(why["public.secret"].rfind("unpublished: NOT_PUBLISHED: table ", 0), 0u) << why["public.secret"];
    EXPECT_NE(why["public.secret"].find("secret"), std::string::npos) << why["public.secret"];
    EXPECT_NE(why["public.secret"].find("is not published"), std::string::npos) << why["public.secret"];
    EXPECT_NE(why["public.nosuch"].find("unpublished: UNKNOWN_TABLE"), std::string::npos) << why["public.nosuch"];
    EXPECT_NE(why["public.u"].find("failed: COLUMN_NOT_PUBLISHED"), std::string::npos) << why["public.u"];
    EXPECT_NE(why["public.u"].find("pw"), std::string::npos) << why["public.u"];
    for (const auto& st : sub.status()) EXPECT_EQ(st.rows, 0u) << st.table;
}

}  // namespace
}  // namespace tablepub::test
