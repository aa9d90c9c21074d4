// TableSetSync without a database: whole transactions across tables, in
// commit order, whatever order their messages arrive in.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "helpers.hpp"
#include "tablepub/set_subscriber.hpp"
#include "tablepub/table_set_sync.hpp"

using namespace testutil;
using tablepub::SetOptions;
using tablepub::SetState;
using tablepub::SetWireTransaction;
using tablepub::TableSetSync;
using namespace std::chrono_literals;

namespace {

const std::string A = "public.a", B = "public.b", TX = ".tx";

struct Range {
    std::string table;
    std::uint64_t first, last;
};

v1::Message tmsg(const std::string& table, std::uint64_t seq, std::uint64_t txid, std::uint64_t pos,
                 v1::Change change) {
    auto m = msg(seq, txid, std::move(change));
    m.set_schema_name("public");
    m.set_table_name(table.substr(7));
    m.set_position(pos);
    m.set_commit_time(1'000'000 * static_cast<std::int64_t>(pos));
    return m;
}

// `group`: the endpoint group whose endpoint sent it.
v1::Message txmsg(std::uint64_t pos, std::uint64_t txid, const std::vector<Range>& ranges,
                  const std::string& group = "") {
    v1::Message m;
    m.set_seq(pos);
    m.set_position(pos);
    m.set_txid(txid);
    m.set_commit_time(1'000'000 * static_cast<std::int64_t>(pos));
    auto* tx = m.mutable_transaction();
    for (const auto& r : ranges) {
        auto* tr = tx->add_tables();
        const auto dot = r.table.find('.');
        tr->set_schema_name(r.table.substr(0, dot));
        tr->set_table_name(r.table.substr(dot + 1));
        tr->set_first_seq(r.first);
        tr->set_last_seq(r.last);
    }
    tx->set_group(group);
    return m;
}

v1::Message tx_heartbeat(std::uint64_t pos) {
    v1::Message m;
    m.set_seq(pos);
    m.set_position(pos);
    m.mutable_heartbeat()->set_interval_ms(1000);
    return m;
}

struct TableSnap {
    std::uint64_t seq;
    std::vector<v1::Change> rows;
};

struct Harness {
    TableSetSync::Clock::time_point now{};
    std::vector<SetWireTransaction> txs;
    std::vector<std::uint64_t> snapshots;
    std::string group;  // of the snapshot endpoint (SnapshotBegin.group)
    TableSetSync sync;

    explicit Harness(std::vector<std::string> tables = {A, B}, SetOptions o = {})
        : sync(std::move(tables), std::move(o),
               {.on_transaction = [this](const SetWireTransaction& t) { txs.push_back(t); },
                .on_snapshot = [this](std::uint64_t p) { snapshots.push_back(p); },
                .on_state = {}}) {}

    v1::Request take() {
        auto r = sync.take_request();
        EXPECT_TRUE(r);
        return r ? *r : v1::Request{};
    }
    void live(const std::string& topic, const v1::Message& m) { sync.on_message(topic, m, now); }
    void reply(v1::Reply r) { sync.on_reply(r, now); }

    v1::Reply begin(const v1::Request& req, std::size_t index, std::uint64_t pos, std::uint64_t xmin,
                    std::uint64_t xmax, const std::vector<std::uint64_t>& xip, std::uint64_t seq) {
        v1::Reply b;
        b.set_request_id(req.request_id());
        auto* sb = b.mutable_snapshot_begin();
        sb->set_xmin(xmin);
        sb->set_xmax(xmax);
        for (auto x : xip) sb->add_xip(x);
        sb->set_seq(seq);
        sb->set_position(pos);
        sb->set_table_index(static_cast<std::uint32_t>(index));
        sb->set_table_count(static_cast<std::uint32_t>(sync.tables().size()));
        const auto& name = sync.tables()[index];
        sb->set_schema_name("public");
        sb->set_table_name(name.substr(7));
        *sb->mutable_schema() = schema();
        sb->set_group(group);
        return b;
    }

    // Streams a snapshot of every table of the set; stops before the
    // SnapshotEnd of table `stop_before_end_of` (to look at the view midway).
    void snapshot(const v1::Request& req, std::uint64_t pos, std::uint64_t xmin, std::uint64_t xmax,
                  const std::vector<std::uint64_t>& xip, const std::vector<TableSnap>& tables,
                  std::size_t stop_before_end_of = SIZE_MAX) {
        ASSERT_TRUE(req.has_snapshot());
        for (std::size_t i = 0; i < tables.size(); ++i) {
            reply(begin(req, i, pos, xmin, xmax, xip, tables[i].seq));
            v1::Reply chunk;
            chunk.set_request_id(req.request_id());
            for (const auto& r : tables[i].rows) *chunk.mutable_snapshot_rows()->add_rows() = r;
            reply(chunk);
            if (i == stop_before_end_of) return;
            v1::Reply e;
            e.set_request_id(req.request_id());
            e.mutable_snapshot_end()->set_row_count(tables[i].rows.size());
            reply(e);
        }
    }

    void replay(const v1::Request& req, const std::vector<v1::Message>& msgs) {
        ASSERT_TRUE(req.has_replay());
        for (const auto& r : replay_replies(req, msgs)) reply(r);
    }

    // Live with the snapshot P=10, S=(100, 110, [105]), a at seq 5 with
    // row 1, b at seq 3 with row 1.
    void go_live() {
        sync.start(now);
        snapshot(take(), 10, 100, 110, {105}, {{5, {insert(1, "a1")}}, {3, {insert(1, "b1")}}});
        ASSERT_EQ(sync.state(), SetState::live);
    }

    bool has(const std::string& table, std::int64_t id) {
        return sync.mirror(table)->find(insert(id, "").key()) != nullptr;
    }

    // After a failed request: the delay (ms) the engine waits before it asks
    // again; then that time passes and it asks again (take() the request).
    // -1, and the test fails, when it set no retry.
    long wait_for_retry() {
        if (!sync.retry_at()) {
            ADD_FAILURE() << "no retry set";
            return -1;
        }
        const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*sync.retry_at() - now).count();
        now = *sync.retry_at();
        sync.tick(now);
        return delay;
    }
};

TEST(TableSetSync, OneSnapshotRequestNamesEveryTable) {
    SetOptions o;
    o.columns[B] = {"v"};
    Harness h({A, B}, o);
    h.sync.start(h.now);
    auto req = h.take();
    ASSERT_TRUE(req.has_snapshot());
    EXPECT_EQ(req.snapshot().table_name(), "a");
    ASSERT_EQ(req.snapshot().more_tables_size(), 1);
    EXPECT_EQ(req.snapshot().more_tables(0).table_name(), "b");
    ASSERT_EQ(req.snapshot().more_tables(0).columns_size(), 1);
    EXPECT_EQ(req.snapshot().columns_size(), 0);
}

TEST(TableSetSync, SnapshotReplacesTheViewOnlyWhenEveryTableArrived) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.snapshot(req, 10, 100, 110, {}, {{5, {insert(1, "a1")}}, {3, {insert(1, "b1")}}}, 1);
    EXPECT_EQ(h.sync.mirror(A)->size(), 0u);  // table a is complete, b is not: nothing shows
    EXPECT_EQ(h.sync.state(), SetState::syncing);
    v1::Reply e;
    e.set_request_id(req.request_id());
    e.mutable_snapshot_end()->set_row_count(1);
    h.reply(e);
    EXPECT_EQ(h.sync.state(), SetState::live);
    EXPECT_EQ(h.sync.mirror(A)->size(), 1u);
    EXPECT_EQ(h.sync.mirror(B)->size(), 1u);
    EXPECT_EQ(h.sync.position(), 10u);
    EXPECT_EQ(h.sync.last_seq(A), 5u);
    EXPECT_EQ(h.snapshots, std::vector<std::uint64_t>{10});
}

TEST(TableSetSync, SnapshotOfTablesFromDifferentMomentsIsRefused) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.reply(h.begin(req, 0, 10, 100, 110, {}, 5));
    v1::Reply e;
    e.set_request_id(req.request_id());
    e.mutable_snapshot_end()->set_row_count(0);
    h.reply(e);
    h.reply(h.begin(req, 1, 11, 100, 110, {}, 3));  // another position
    EXPECT_EQ(h.sync.state(), SetState::syncing);
    EXPECT_FALSE(h.sync.take_request());
    h.now += 1s;
    h.sync.tick(h.now);
    EXPECT_TRUE(h.take().has_snapshot());
}

TEST(TableSetSync, TransactionAcrossTablesIsAppliedWholeWhateverTheArrivalOrder) {
    Harness h;
    h.go_live();
    // Transaction 11 (txid 120): a seq 6, b seq 4..5. The .tx message and
    // b's messages come first; nothing may show until a's message arrives.
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 5}}));
    h.live(B, tmsg(B, 5, 120, 11, insert(3, "b3")));
    h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
    EXPECT_FALSE(h.has(B, 2));
    EXPECT_TRUE(h.txs.empty());
    EXPECT_EQ(h.sync.lag(), 1u);
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    ASSERT_EQ(h.txs.size(), 1u);
    const auto& t = h.txs[0];
    EXPECT_EQ(t.position, 11u);
    EXPECT_EQ(t.txid, 120u);
    EXPECT_EQ(t.commit_time, 11'000'000);
    ASSERT_EQ(t.changes.size(), 3u);
    EXPECT_EQ(t.changes[0].first, A);
    EXPECT_EQ(t.changes[1].first, B);
    EXPECT_EQ(t.changes[1].second.seq(), 4u);
    EXPECT_EQ(t.changes[2].second.seq(), 5u);
    EXPECT_TRUE(h.has(A, 2));
    EXPECT_TRUE(h.has(B, 2));
    EXPECT_TRUE(h.has(B, 3));
    EXPECT_EQ(h.sync.position(), 11u);
    EXPECT_EQ(h.sync.lag(), 0u);
    // The .tx message came first, so the library asked for a's message at
    // once; the answer, a duplicate by now, changes nothing.
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    EXPECT_EQ(req.replay().table_name(), "a");
    h.replay(req, {tmsg(A, 6, 120, 11, insert(2, "a2"))});
    EXPECT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_FALSE(h.sync.take_request());
}

TEST(TableSetSync, TransactionsApplyInPositionOrderNotArrivalOrder) {
    Harness h;
    h.go_live();
    // Position 12 is complete first; position 11 still misses its .tx message.
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(A, tmsg(A, 7, 121, 12, update(2, "x")));
    h.live(TX, txmsg(12, 121, {{A, 7, 7}}));
    EXPECT_TRUE(h.txs.empty());
    auto req = h.take();  // .tx gap: replay position 11
    ASSERT_TRUE(req.has_replay());
    EXPECT_TRUE(req.replay().transactions());
    EXPECT_EQ(req.replay().from_seq(), 11u);
    EXPECT_EQ(req.replay().to_seq(), 11u);
    h.replay(req, {txmsg(11, 120, {{A, 6, 6}})});
    ASSERT_EQ(h.txs.size(), 2u);
    EXPECT_EQ(h.txs[0].position, 11u);
    EXPECT_EQ(h.txs[1].position, 12u);
    EXPECT_EQ(h.sync.mirror(A)->find(insert(2, "").key())->at("v").text(), "x");
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
}

TEST(TableSetSync, DuplicatesAreDroppedEverywhere) {
    Harness h;
    h.go_live();
    for (int round = 0; round < 2; ++round) {
        h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
        h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
        h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}));
        h.live(A, tmsg(A, 5, 99, 10, insert(9, "old")));  // in the snapshot
    }
    EXPECT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_GE(h.sync.stats().duplicates, 4u);
    EXPECT_FALSE(h.has(A, 9));
    EXPECT_EQ(h.sync.buffered(), 0u);
}

TEST(TableSetSync, MissingRangeIsReplayedBeforeTheTransactionShows) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    // b seq 4 was lost.
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}));
    EXPECT_FALSE(h.has(A, 2));
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    EXPECT_FALSE(req.replay().transactions());
    EXPECT_EQ(req.replay().table_name(), "b");
    EXPECT_EQ(req.replay().from_seq(), 4u);
    EXPECT_EQ(req.replay().to_seq(), 4u);
    h.replay(req, {tmsg(B, 4, 120, 11, insert(2, "b2"))});
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_TRUE(h.has(A, 2));
    EXPECT_TRUE(h.has(B, 2));
}

TEST(TableSetSync, TablesOutsideTheSetAreIgnored) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(TX, txmsg(11, 120, {{"public.other", 1, 9}, {A, 6, 6}}));
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.txs[0].changes.size(), 1u);
    // Only tables outside the set: the position advances, nothing is reported.
    h.live(TX, txmsg(12, 121, {{"public.other", 10, 10}}));
    EXPECT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.sync.stats().transactions, 1u);
    EXPECT_EQ(h.sync.position(), 12u);
    EXPECT_FALSE(h.sync.take_request());
}

// Every seq of a set table belongs to a transaction, and transactions are
// applied in order: a range that starts beyond the table's last processed
// seq means a transaction was applied without its part on that table (a
// Transaction from the endpoint of a group without the table, which the
// set kept for the position). It used to skip those seqs silently, so the
// view never had them; now it resyncs.
TEST(TableSetSync, RangeStartingBeyondTheLastSeqResyncsInsteadOfSkipping) {
    Harness h;
    h.go_live();  // a at seq 5, b at seq 3
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}}));  // b's part not listed
    ASSERT_EQ(h.txs.size(), 1u);
    h.live(B, tmsg(B, 5, 121, 12, insert(3, "b3")));
    h.live(TX, txmsg(12, 121, {{B, 5, 5}}));  // b's seq 4 was in no transaction
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    EXPECT_EQ(h.sync.stats().anomalies, 1u);
    EXPECT_EQ(h.txs.size(), 1u);
    EXPECT_FALSE(h.has(B, 3));
}

TEST(TableSetSync, VisibilityAtTheSnapshotBoundary) {
    Harness h;
    h.go_live();  // P = 10, S = (100, 110, [105])
    // Position 9: at or below P, skipped without its messages.
    h.live(TX, txmsg(9, 98, {{A, 4, 4}}));
    // Position 11, txid 101: visible in S (the relay lagged): skipped,
    // but only once its messages are here (they might carry a schema).
    h.live(TX, txmsg(11, 101, {{A, 6, 6}}));
    EXPECT_EQ(h.sync.position(), 10u);
    h.live(A, tmsg(A, 6, 101, 11, insert(1, "dup")));  // would be an anomaly if applied
    EXPECT_EQ(h.sync.position(), 11u);
    // Position 12, txid 105: in xip, not visible: applied.
    h.live(A, tmsg(A, 7, 105, 12, insert(5, "a5")));
    h.live(TX, txmsg(12, 105, {{A, 7, 7}}));
    // Position 13, txid 110 (>= xmax): applied.
    h.live(B, tmsg(B, 4, 110, 13, insert(6, "b6")));
    h.live(TX, txmsg(13, 110, {{B, 4, 4}}));
    ASSERT_EQ(h.txs.size(), 2u);
    EXPECT_EQ(h.txs[0].txid, 105u);
    EXPECT_EQ(h.txs[1].txid, 110u);
    EXPECT_EQ(h.sync.stats().skipped_contained, 1u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_EQ(h.sync.mirror(A)->find(insert(1, "").key())->at("v").text(), "a1");
}

TEST(TableSetSync, ChangeThatDoesNotFitLeavesTheViewAtTheLastBoundary) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(B, tmsg(B, 4, 120, 11, del(7)));  // b has no row 7
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}));
    EXPECT_FALSE(h.has(A, 2));  // not half of it either
    EXPECT_TRUE(h.txs.empty());
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    EXPECT_EQ(h.sync.stats().anomalies, 1u);
    auto req = h.take();
    ASSERT_TRUE(req.has_snapshot());
    EXPECT_EQ(req.snapshot().more_tables_size(), 1);
}

TEST(TableSetSync, ChangesWithinOneTransactionAreCheckedInOrder) {
    Harness h;
    h.go_live();
    // Insert, update, delete and insert again of one key: fits.
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "x")));
    h.live(A, tmsg(A, 7, 120, 11, update(3, "y", 2)));
    h.live(A, tmsg(A, 8, 120, 11, del(3)));
    h.live(A, tmsg(A, 9, 120, 11, insert(3, "z")));
    h.live(TX, txmsg(11, 120, {{A, 6, 9}}));
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_TRUE(h.has(A, 3));
    EXPECT_FALSE(h.has(A, 2));
}

TEST(TableSetSync, ResyncMarkerOnOneTableResyncsTheSet) {
    Harness h;
    h.go_live();
    v1::Change r;
    r.set_op(v1::RESYNC);
    r.set_reason("partition detached");
    h.live(B, tmsg(B, 4, 120, 11, r));
    h.live(TX, txmsg(11, 120, {{B, 4, 4}}));
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    auto req = h.take();
    ASSERT_TRUE(req.has_snapshot());
    EXPECT_EQ(h.sync.mirror(B)->size(), 1u);  // the old view stays until the new snapshot
    h.snapshot(req, 11, 125, 125, {}, {{5, {insert(1, "a1")}}, {4, {}}});
    EXPECT_EQ(h.sync.state(), SetState::live);
    EXPECT_EQ(h.sync.mirror(B)->size(), 0u);
    EXPECT_EQ(h.sync.position(), 11u);
}

TEST(TableSetSync, MessageOfAnotherTransactionInARangeResyncs) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 6, 999, 11, insert(2, "a2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}}));
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    EXPECT_FALSE(h.has(A, 2));
}

TEST(TableSetSync, MalformedRangeResyncsInsteadOfWaitingForEver) {
    Harness h;
    h.go_live();
    h.live(TX, txmsg(11, 120, {{A, 9, 6}}));
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    EXPECT_EQ(h.sync.stats().anomalies, 1u);
}

TEST(TableSetSync, HeartbeatAboveOurPositionReplaysTransactions) {
    Harness h;
    h.go_live();
    h.live(TX, tx_heartbeat(12));
    EXPECT_EQ(h.sync.lag(), 2u);
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    EXPECT_TRUE(req.replay().transactions());
    EXPECT_EQ(req.replay().from_seq(), 11u);
    EXPECT_EQ(req.replay().to_seq(), 12u);
    h.replay(req, {txmsg(11, 120, {{A, 6, 6}}), txmsg(12, 121, {{A, 7, 7}})});
    // Now the table's messages are missing: one replay for both
    // transactions' ranges, not one per transaction.
    auto req2 = h.take();
    ASSERT_TRUE(req2.has_replay());
    EXPECT_EQ(req2.replay().table_name(), "a");
    EXPECT_EQ(req2.replay().from_seq(), 6u);
    EXPECT_EQ(req2.replay().to_seq(), 7u);
    h.replay(req2, {tmsg(A, 6, 120, 11, insert(2, "a2")), tmsg(A, 7, 121, 12, insert(3, "a3"))});
    EXPECT_FALSE(h.sync.take_request());
    EXPECT_EQ(h.txs.size(), 2u);
    EXPECT_EQ(h.sync.lag(), 0u);
    EXPECT_EQ(h.sync.lag_time(std::chrono::system_clock::now()), 0us);
}

TEST(TableSetSync, LagInTime) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}}));
    h.live(TX, tx_heartbeat(13));
    EXPECT_EQ(h.sync.commit_time(), 11'000'000);
    EXPECT_EQ(h.sync.lag_time(std::chrono::system_clock::time_point(15s)), 4s);
}

TEST(TableSetSync, GoneResyncsTheWholeSet) {
    Harness h;
    h.go_live();
    h.live(TX, tx_heartbeat(11));
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    v1::Reply err;
    err.set_request_id(req.request_id());
    err.mutable_error()->set_code(v1::GONE);
    h.reply(err);
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    auto snap = h.take();
    ASSERT_TRUE(snap.has_snapshot());
    EXPECT_EQ(snap.snapshot().more_tables_size(), 1);
}

TEST(TableSetSync, ReplaysThatBringNothingEndInAResync) {
    SetOptions o;
    o.max_replay_attempts = 3;
    Harness h({A, B}, o);
    h.go_live();
    h.live(TX, tx_heartbeat(11));
    for (unsigned i = 0; i < 3; ++i) {
        auto req = h.take();
        ASSERT_TRUE(req.has_replay()) << i;
        h.replay(req, {});
        h.now += 1s;
        h.sync.tick(h.now);
    }
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
}

TEST(TableSetSync, MessagesBufferedDuringTheSnapshotAreSortedOut) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    // Before the snapshot arrives: one transaction it contains (position
    // 10) and one it does not (11).
    h.live(A, tmsg(A, 5, 99, 10, insert(1, "a1")));
    h.live(TX, txmsg(10, 99, {{A, 5, 5}}));
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}));
    EXPECT_TRUE(h.txs.empty());
    h.snapshot(req, 10, 100, 110, {}, {{5, {insert(1, "a1")}}, {3, {insert(1, "b1")}}});
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.txs[0].position, 11u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_EQ(h.sync.buffered(), 0u);
}

// A set connected to the publish endpoints of two endpoint groups hears a
// Transaction of each per position, each listing only its group's tables.
// It used to keep whichever came first: group x's (only a) applied the
// transaction without b's part. Only the snapshot's group's is taken now.
TEST(TableSetSync, TransactionOfAnotherEndpointGroupIsIgnored) {
    Harness h;
    h.group = "default";
    h.go_live();  // a at seq 5, b at seq 3
    EXPECT_EQ(h.sync.group(), "default");
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}}, "x"));
    EXPECT_TRUE(h.txs.empty());
    EXPECT_FALSE(h.has(A, 2));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}, "default"));
    h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.txs[0].changes.size(), 2u);
    EXPECT_TRUE(h.has(A, 2));
    EXPECT_TRUE(h.has(B, 2));
    // x's after the set's own: an old position, nothing more.
    h.live(TX, txmsg(12, 121, {{A, 7, 7}, {B, 5, 5}}, "default"));
    h.live(TX, txmsg(12, 121, {{A, 7, 7}}, "x"));
    h.live(A, tmsg(A, 7, 121, 12, insert(3, "a3")));
    h.live(B, tmsg(B, 5, 121, 12, insert(3, "b3")));
    ASSERT_EQ(h.txs.size(), 2u);
    EXPECT_EQ(h.txs[1].changes.size(), 2u);
    EXPECT_EQ(h.sync.position(), 12u);
    EXPECT_EQ(h.sync.stats().duplicates, 2u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
    EXPECT_EQ(h.sync.buffered(), 0u);
}

// Before the snapshot says its group, Transactions of every group are held
// (the first of a position); those of another group go once it does, and
// the gap is replayed from the snapshot endpoint, which serves its group's.
TEST(TableSetSync, TransactionsOfAnotherGroupHeldBeforeTheSnapshotGo) {
    Harness h;
    h.group = "default";
    h.sync.start(h.now);
    auto req = h.take();
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}}, "x"));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}, "default"));  // held already: a duplicate
    h.snapshot(req, 10, 100, 110, {}, {{5, {insert(1, "a1")}}, {3, {insert(1, "b1")}}});
    ASSERT_EQ(h.sync.state(), SetState::live);
    EXPECT_TRUE(h.txs.empty());
    auto replay = h.take();
    ASSERT_TRUE(replay.has_replay());
    EXPECT_TRUE(replay.replay().transactions());
    EXPECT_EQ(replay.replay().from_seq(), 11u);
    EXPECT_EQ(replay.replay().to_seq(), 11u);
    h.replay(replay, {txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}, "default")});
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.txs[0].changes.size(), 2u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
}

// Relays before the field send no group: every Transaction is taken, as before.
TEST(TableSetSync, WithoutGroupsEveryTransactionIsTaken) {
    Harness h;
    h.go_live();
    EXPECT_EQ(h.sync.group(), "");
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}}));
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.sync.stats().duplicates, 0u);
}

// A rename stops the set in state moved with the new name (as TableSync
// and the Python client do), keeping its view and asking nothing more: it
// used to resync, get MOVED and end "failed", asking every 5 s for ever.
TEST(TableSetSync, RenamedTableStopsTheSetInStateMoved) {
    Harness h;
    h.go_live();
    auto hb = heartbeat(9);
    hb.set_table_name("b");
    hb.mutable_heartbeat()->set_moved_to_schema("public");
    hb.mutable_heartbeat()->set_moved_to_table("b2");
    h.live(B, hb);
    EXPECT_EQ(h.sync.state(), SetState::moved);
    EXPECT_EQ(h.sync.moved_to(), "public.b2");
    EXPECT_FALSE(h.sync.take_request());
    EXPECT_EQ(h.sync.mirror(A)->size(), 1u);  // the last view stays readable
    h.live(B, hb);
    h.live(A, tmsg(A, 9, 300, 40, insert(9, "late")));
    h.live(TX, txmsg(40, 300, {{A, 9, 9}}));
    h.now += 60s;
    h.sync.tick(h.now);
    EXPECT_FALSE(h.sync.take_request());  // quiet, for good
    EXPECT_FALSE(h.sync.stale(h.now));
    EXPECT_EQ(h.sync.mirror(A)->size(), 1u);
    EXPECT_EQ(h.sync.state(), SetState::moved);
}

TEST(TableSetSync, MovedAnswerStopsTheSetInStateMoved) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    v1::Reply err;
    err.set_request_id(req.request_id());
    err.mutable_error()->set_code(v1::MOVED);
    err.mutable_error()->set_moved_to_schema("s2");
    err.mutable_error()->set_moved_to_table("a2");
    h.reply(err);
    EXPECT_EQ(h.sync.state(), SetState::moved);
    EXPECT_EQ(h.sync.moved_to(), "s2.a2");
    EXPECT_FALSE(h.sync.retry_at());
    h.now += 60s;
    h.sync.tick(h.now);
    EXPECT_FALSE(h.sync.take_request());
}

TEST(TableSetSync, TableReplayStopsBelowWhatIsHeld) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 8, 122, 13, insert(4, "a4")));
    h.live(TX, tx_heartbeat(13));
    auto txreq = h.take();
    ASSERT_TRUE(txreq.has_replay());
    h.replay(txreq, {txmsg(11, 120, {{A, 6, 6}}), txmsg(12, 121, {{A, 7, 7}}), txmsg(13, 122, {{A, 8, 8}})});
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    EXPECT_EQ(req.replay().from_seq(), 6u);
    EXPECT_EQ(req.replay().to_seq(), 7u);  // seq 8 is here
}

TEST(TableSetSync, FullBuffersDropAndReplayLater) {
    SetOptions o;
    o.max_buffered = 2;
    Harness h({A, B}, o);
    h.sync.start(h.now);
    auto req = h.take();
    // While the snapshot runs: 2 messages fit, the rest is dropped.
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(B, tmsg(B, 4, 120, 11, insert(2, "b2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}));
    EXPECT_EQ(h.sync.stats().dropped, 1u);
    h.snapshot(req, 10, 100, 110, {}, {{5, {insert(1, "a1")}}, {3, {insert(1, "b1")}}});
    auto rep = h.take();  // the dropped Transaction
    ASSERT_TRUE(rep.has_replay());
    EXPECT_TRUE(rep.replay().transactions());
    EXPECT_EQ(rep.replay().from_seq(), 11u);
    h.replay(rep, {txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}})});
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_EQ(h.txs[0].changes.size(), 2u);
}

// A subscriber far behind must not replay its whole lag into memory at
// once (replayed messages are never dropped): chunks of max_buffered, and
// the next once these are applied.
TEST(TableSetSync, ReplaysAskForAtMostMaxBufferedAtATime) {
    SetOptions o;
    o.max_buffered = 2;
    Harness h({A, B}, o);
    h.go_live();
    h.live(TX, tx_heartbeat(1000));
    auto txreq = h.take();
    ASSERT_TRUE(txreq.has_replay());
    EXPECT_TRUE(txreq.replay().transactions());
    EXPECT_EQ(txreq.replay().from_seq(), 11u);
    EXPECT_EQ(txreq.replay().to_seq(), 12u);
    h.replay(txreq, {txmsg(11, 120, {{A, 6, 6}}), txmsg(12, 121, {{A, 7, 8}})});
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    EXPECT_EQ(req.replay().from_seq(), 6u);
    EXPECT_EQ(req.replay().to_seq(), 7u);
    h.replay(req, {tmsg(A, 6, 120, 11, insert(2, "a2")), tmsg(A, 7, 121, 12, insert(3, "a3"))});
    EXPECT_EQ(h.txs.size(), 1u);
    auto req2 = h.take();
    ASSERT_TRUE(req2.has_replay());
    EXPECT_EQ(req2.replay().from_seq(), 8u);
    EXPECT_EQ(req2.replay().to_seq(), 8u);
    h.replay(req2, {tmsg(A, 8, 121, 12, insert(4, "a4"))});
    EXPECT_EQ(h.txs.size(), 2u);
    auto next = h.take();
    ASSERT_TRUE(next.has_replay());
    EXPECT_TRUE(next.replay().transactions());
    EXPECT_EQ(next.replay().from_seq(), 13u);
    EXPECT_EQ(next.replay().to_seq(), 14u);
}

// A hostile or broken relay answers a replay with more than was asked:
// what lies outside the range is not held (replayed messages are never
// dropped, so it would grow the buffers without bound).
TEST(TableSetSync, ReplayAnswerOutsideTheAskedRangeIsNotHeld) {
    SetOptions o;
    o.max_buffered = 10;
    Harness h({A, B}, o);
    h.go_live();
    h.live(A, tmsg(A, 6, 120, 11, insert(2, "a2")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {B, 4, 4}}));
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    ASSERT_EQ(req.replay().from_seq(), 4u);
    ASSERT_EQ(req.replay().to_seq(), 4u);
    std::vector<v1::Message> flood;
    for (std::uint64_t q = 5; q < 1005; ++q) flood.push_back(tmsg(B, q, 500 + q, 20 + q, insert(100 + q, "x")));
    flood.push_back(tmsg(B, 4, 120, 11, insert(2, "b2")));
    h.replay(req, flood);
    EXPECT_EQ(h.sync.stats().unasked, 1000u);
    EXPECT_EQ(h.sync.buffered(), 0u);
    ASSERT_EQ(h.txs.size(), 1u);
    EXPECT_TRUE(h.has(B, 2));
    // Transactions too: a ".tx" replay holds only the positions asked.
    h.live(TX, tx_heartbeat(13));
    auto txreq = h.take();
    ASSERT_TRUE(txreq.replay().transactions());
    ASSERT_EQ(txreq.replay().from_seq(), 12u);
    ASSERT_EQ(txreq.replay().to_seq(), 13u);
    std::vector<v1::Message> txs;
    for (std::uint64_t p = 12; p < 500; ++p) txs.push_back(txmsg(p, 600 + p, {{A, 7, 7}}));
    h.replay(txreq, txs);
    EXPECT_LE(h.sync.buffered(), 2u);
}

// Its messages are held until a transaction is complete: one listing more
// seqs of the set's tables than max_buffered (a relay's claim of 2^60, or a
// huge real one) resyncs the set instead of asking for them all.
TEST(TableSetSync, TransactionLargerThanTheBufferResyncs) {
    SetOptions o;
    o.max_buffered = 3;
    Harness h({A, B}, o);
    h.go_live();
    h.live(TX, txmsg(11, 120, {{A, 6, 7}, {B, 4, 5}}));
    auto req = h.take();
    ASSERT_TRUE(req.has_snapshot());
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    EXPECT_TRUE(h.has(A, 1));  // the old view stays

    Harness huge({A, B}, o);
    huge.go_live();
    huge.live(TX, txmsg(11, 120, {{A, 6, std::uint64_t{1} << 60}}));
    auto r2 = huge.take();
    EXPECT_TRUE(r2.has_snapshot());
    // The new snapshot contains it: it is skipped without its messages.
    huge.snapshot(r2, 11, 121, 121, {}, {{std::uint64_t{1} << 60, {insert(1, "a1")}}, {3, {insert(1, "b1")}}});
    EXPECT_EQ(huge.sync.state(), SetState::live);
    EXPECT_EQ(huge.sync.position(), 11u);
}

// No reply, UNAVAILABLE, BUSY or TIMEOUT: asked again, never resynced,
// 500 ms later the first time, 500 ms more each time up to 5 s (as the
// per-table engine and the Python client); an answer resets the delay.
TEST(TableSetSync, TransientFailuresBackOffUpToFiveSeconds) {
    Harness h;
    h.go_live();
    h.live(TX, tx_heartbeat(12));
    auto req = h.take();
    ASSERT_TRUE(req.has_replay());
    std::vector<long> delays;
    for (int i = 0; i < 13; ++i) {
        if (i % 2 == 0) {
            v1::Reply e;
            e.set_request_id(req.request_id());
            e.mutable_error()->set_code(i % 4 == 0 ? v1::UNAVAILABLE : v1::BUSY);
            h.reply(e);
        } else {
            h.sync.on_request_failed(req.request_id(), "no reply", h.now);
        }
        delays.push_back(h.wait_for_retry());
        req = h.take();
        ASSERT_TRUE(req.has_replay());
    }
    EXPECT_EQ(delays, (std::vector<long>{500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5000, 5000, 5000}));
    EXPECT_EQ(h.sync.state(), SetState::live);
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
    // The relay answers: the next failure waits 500 ms again.
    v1::Reply b;
    b.set_request_id(req.request_id());
    b.mutable_replay_begin()->set_from_seq(11);
    h.reply(b);
    h.sync.on_request_failed(req.request_id(), "no reply", h.now);
    ASSERT_TRUE(h.sync.retry_at());
    EXPECT_EQ(*h.sync.retry_at() - h.now, std::chrono::milliseconds(500));
}

TEST(TableSetSync, SnapshotRetriesBackOffToo) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    std::vector<long> delays;
    for (int i = 0; i < 11; ++i) {
        h.sync.on_request_failed(req.request_id(), "no reply", h.now);
        delays.push_back(h.wait_for_retry());
        req = h.take();
        ASSERT_TRUE(req.has_snapshot());
    }
    EXPECT_EQ(delays.back(), 5000);
    EXPECT_EQ(delays.front(), 500);
}

// A stream reset (a restored database numbers positions and seqs again):
// what was held under the old numbers must not be taken for the new
// stream's after the new snapshot (an old transaction would show).
TEST(TableSetSync, ResetStreamForgetsWhatTheOldStreamNumbered) {
    Harness h;
    h.go_live();
    // Old stream: T12 and its message wait for the lost T11.
    h.live(A, tmsg(A, 7, 130, 12, insert(7, "old")));
    h.live(TX, txmsg(12, 130, {{A, 7, 7}}));
    (void)h.sync.take_request();
    for (int i = 0; i < 3; ++i) h.live(TX, tx_heartbeat(3));
    auto req = h.take();
    ASSERT_TRUE(req.has_snapshot());
    // The new stream's snapshot happens to be at position 11, seq 6.
    h.snapshot(req, 11, 100, 110, {}, {{6, {insert(1, "a1")}}, {3, {insert(1, "b1")}}});
    EXPECT_EQ(h.sync.state(), SetState::live);
    EXPECT_TRUE(h.txs.empty());
    EXPECT_FALSE(h.has(A, 7));
    EXPECT_EQ(h.sync.position(), 11u);
    EXPECT_EQ(h.sync.buffered(), 0u);
}

// A ".tx" replay answered with a message that is no Transaction must not
// move the position past the transaction really there.
TEST(TableSetSync, ReplayedTransactionTopicMessageWithoutTransactionIsIgnored) {
    Harness h;
    h.go_live();
    h.live(TX, tx_heartbeat(11));
    auto req = h.take();
    ASSERT_TRUE(req.replay().transactions());
    h.replay(req, {tmsg(A, 11, 120, 11, insert(2, "a2"))});
    EXPECT_EQ(h.sync.position(), 10u);
    EXPECT_EQ(h.sync.stats().unasked, 1u);
}

// Each table once per Transaction: a table listed twice would have its
// messages taken twice.
TEST(TableSetSync, TransactionListingATableTwiceResyncs) {
    Harness h;
    h.go_live();
    h.live(A, tmsg(A, 6, 120, 11, update(1, "x")));
    h.live(TX, txmsg(11, 120, {{A, 6, 6}, {A, 6, 6}}));
    EXPECT_EQ(h.sync.state(), SetState::resyncing);
    EXPECT_TRUE(h.txs.empty());
}

// SetView refers to the subscriber's live state: a copy kept past read()
// would show later transactions half-way or dangle; the type refuses it.
static_assert(!std::is_copy_constructible_v<tablepub::SetView>);
static_assert(!std::is_move_constructible_v<tablepub::SetView>);
static_assert(!std::is_copy_assignable_v<tablepub::SetView>);
static_assert(!std::is_move_assignable_v<tablepub::SetView>);

TEST(TableSetSync, RejectsBadTableNames) {
    EXPECT_THROW(TableSetSync({}), std::invalid_argument);
    EXPECT_THROW(TableSetSync({"nodot"}), std::invalid_argument);
    EXPECT_THROW(TableSetSync({A, A}), std::invalid_argument);
}

// One snapshot request names the whole set, and the relay refuses more
// than 32 tables: the set would only ever be "failed".
TEST(TableSetSync, AtMost32Tables) {
    std::vector<std::string> names;
    for (int i = 0; i < 32; ++i) names.push_back("public.t" + std::to_string(i));
    EXPECT_NO_THROW(TableSetSync{names});
    names.push_back("public.t32");
    EXPECT_THROW(TableSetSync{names}, std::invalid_argument);
}

// A relay before multi-table snapshots streams only the first table (no
// table_count): the set fails and asks slowly, instead of streaming that
// table every 500 ms for ever.
TEST(TableSetSync, RelayWithoutMultiTableSnapshotsFailsTheSet) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    auto b = h.begin(req, 0, 10, 100, 110, {}, 5);
    b.mutable_snapshot_begin()->clear_table_count();
    b.mutable_snapshot_begin()->clear_table_index();
    h.reply(b);
    EXPECT_EQ(h.sync.state(), SetState::failed);
    ASSERT_TRUE(h.sync.retry_at());
    EXPECT_EQ(*h.sync.retry_at() - h.now, SetOptions{}.failed_retry);
}

}  // namespace

// A callback that throws must not change what the engine does: the
// transaction stays applied (once), the engine finishes the step, and the
// first exception waits for the driver (SetSubscriber::poll).
TEST(TableSetSync, ThrowingCallbackLeavesTheTransactionAppliedOnce) {
    std::vector<std::uint64_t> calls;
    TableSetSync sync({A, B}, {},
                      {.on_transaction =
                           [&](const SetWireTransaction& t) {
                               calls.push_back(t.position);
                               if (t.position == 11) throw std::runtime_error("callback failed at 11");
                           },
                       .on_snapshot = [](std::uint64_t) { throw std::runtime_error("snapshot callback failed"); },
                       .on_state = {}});
    Harness h;  // for its reply builders only
    const TableSetSync::Clock::time_point now{};
    sync.start(now);
    auto req = sync.take_request();
    ASSERT_TRUE(req);
    // Position 11 arrives during the snapshot: applied by the drain after
    // the throwing on_snapshot, in the same step.
    EXPECT_NO_THROW(sync.on_message(A, tmsg(A, 6, 120, 11, insert(2, "a2")), now));
    EXPECT_NO_THROW(sync.on_message(TX, txmsg(11, 120, {{A, 6, 6}}), now));
    for (std::size_t i = 0; i < 2; ++i) {
        auto b = h.begin(*req, i, 10, 100, 110, {}, i == 0 ? 5 : 3);
        EXPECT_NO_THROW(sync.on_reply(b, now));
        v1::Reply e;
        e.set_request_id(req->request_id());
        e.mutable_snapshot_end()->set_row_count(0);
        EXPECT_NO_THROW(sync.on_reply(e, now));
    }
    EXPECT_EQ(sync.state(), SetState::live);
    EXPECT_EQ(sync.position(), 11u);
    EXPECT_EQ(calls, std::vector<std::uint64_t>{11});
    auto err = sync.take_callback_error();
    ASSERT_TRUE(err);
    try {
        std::rethrow_exception(err);
    } catch (const std::runtime_error& ex) {
        EXPECT_STREQ(ex.what(), "snapshot callback failed");  // the first one
    }
    EXPECT_FALSE(sync.callback_failed());
    // The next transactions follow; a replayed 11 is a duplicate.
    EXPECT_NO_THROW(sync.on_message(A, tmsg(A, 6, 120, 11, insert(2, "a2")), now));
    EXPECT_NO_THROW(sync.on_message(TX, txmsg(11, 120, {{A, 6, 6}}), now));
    EXPECT_NO_THROW(sync.on_message(B, tmsg(B, 4, 121, 12, insert(3, "b3")), now));
    EXPECT_NO_THROW(sync.on_message(TX, txmsg(12, 121, {{B, 4, 4}}), now));
    EXPECT_FALSE(sync.callback_failed());
    EXPECT_EQ(calls, (std::vector<std::uint64_t>{11, 12}));
    EXPECT_EQ(sync.position(), 12u);
    EXPECT_EQ(sync.mirror(A)->size(), 1u);
    EXPECT_EQ(sync.mirror(B)->size(), 1u);
    EXPECT_EQ(sync.stats().transactions, 2u);
    EXPECT_EQ(sync.stats().anomalies, 0u);
}
