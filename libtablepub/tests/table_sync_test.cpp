#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "helpers.hpp"
#include "tablepub/table_sync.hpp"

using namespace testutil;
using tablepub::Mirror;
using tablepub::SyncOptions;
using tablepub::SyncState;
using tablepub::TableSync;
using namespace std::chrono_literals;

namespace {

struct Harness {
    TableSync::Clock::time_point now{};
    std::vector<std::uint64_t> applied;  // seqs passed to on_change
    std::vector<std::string> states;
    std::uint64_t snapshot_rows = 0;
    TableSync sync;

    explicit Harness(SyncOptions o = {})
        : sync("public", "t", std::move(o),
               {.on_snapshot_begin = {},
                .on_snapshot_row = [this](const std::string&, const v1::Change&) { ++snapshot_rows; },
                .on_snapshot_end = {},
                .on_change = [this](const std::string&, const v1::Message& m) { applied.push_back(m.seq()); },
                .on_state = [this](const std::string&, SyncState, SyncState to,
                                   const std::string&) { states.push_back(to_string(to)); }}) {}

    v1::Request take() {
        auto r = sync.take_request();
        EXPECT_TRUE(r);
        return r ? *r : v1::Request{};
    }
    void live(const v1::Message& m) { sync.on_message(m, now); }
    void reply(v1::Reply r) { sync.on_reply(r, now); }

    // Answers the pending snapshot request with rows at snapshot (xmin,xmax,xip), seq.
    void snapshot(const v1::Request& req, std::uint64_t xmin, std::uint64_t xmax, std::vector<std::uint64_t> xip,
                  std::uint64_t seq, const std::vector<v1::Change>& rows, std::int64_t count_delta = 0) {
        EXPECT_TRUE(req.has_snapshot());
        v1::Reply b;
        b.set_request_id(req.request_id());
        auto* sb = b.mutable_snapshot_begin();
        sb->set_xmin(xmin);
        sb->set_xmax(xmax);
        for (auto x : xip) sb->add_xip(x);
        sb->set_seq(seq);
        sb->set_schema_seq(1);
        *sb->mutable_schema() = schema();
        reply(b);
        v1::Reply chunk;
        chunk.set_request_id(req.request_id());
        for (const auto& r : rows) *chunk.mutable_snapshot_rows()->add_rows() = r;
        reply(chunk);
        v1::Reply e;
        e.set_request_id(req.request_id());
        e.mutable_snapshot_end()->set_row_count(
            static_cast<std::uint64_t>(static_cast<std::int64_t>(rows.size()) + count_delta));
        reply(e);
    }

    void replay(const v1::Request& req, const std::vector<v1::Message>& msgs) {
        EXPECT_TRUE(req.has_replay());
        for (const auto& r : replay_replies(req, msgs)) reply(r);
    }

    void error(const v1::Request& req, v1::ErrorCode code) {
        v1::Reply r;
        r.set_request_id(req.request_id());
        r.mutable_error()->set_code(code);
        r.mutable_error()->set_message("test");
        reply(r);
    }

    // Answers the request with MOVED: the table is now schema.table.
    void moved(const v1::Request& req, const std::string& schema, const std::string& table,
               const std::string& message = "") {
        v1::Reply r;
        r.set_request_id(req.request_id());
        r.mutable_error()->set_code(v1::MOVED);
        r.mutable_error()->set_message(message);
        r.mutable_error()->set_moved_to_schema(schema);
        r.mutable_error()->set_moved_to_table(table);
        reply(r);
    }

    // Live on an empty snapshot, then a heartbeat at seq 2 makes it ask for
    // a replay, answered with `code`.
    void fail_replay(v1::ErrorCode code) {
        go_live(0);
        live(heartbeat(2));
        error(take(), code);
    }

    std::string v(std::int64_t id) const {
        google::protobuf::RepeatedPtrField<v1::Column> k;
        fill(&k, {{"id", ival(id)}});
        const auto* row = sync.mirror().find(k);
        return row ? row->at("v").text() : "<missing>";
    }

    // Brings the table live on an empty snapshot at seq `seq` (xmin=xmax=100).
    void go_live(std::uint64_t seq = 0, std::vector<v1::Change> rows = {}) {
        sync.start(now);
        snapshot(take(), 100, 100, {}, seq, rows);
        ASSERT_EQ(sync.state(), SyncState::live);
    }
};

}  // namespace

TEST(TableSync, StartAsksForSnapshot) {
    Harness h;
    EXPECT_FALSE(h.sync.take_request());
    h.sync.start(h.now);
    auto r = h.take();
    EXPECT_NE(r.request_id(), 0u);
    EXPECT_EQ(r.snapshot().schema_name(), "public");
    EXPECT_EQ(r.snapshot().table_name(), "t");
    EXPECT_EQ(h.sync.state(), SyncState::syncing);
    EXPECT_EQ(h.sync.pending_request_id(), r.request_id());
}

// Deltas that arrive before and during the snapshot are buffered; those of
// transactions visible in the snapshot are dropped, the others applied.
TEST(TableSync, BufferedDeltasFilteredByVisibility) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.live(msg(5, 90, insert(1, "a")));    // in the snapshot (90 < xmin)
    h.live(msg(6, 102, insert(2, "b")));   // txid in xip: not in the snapshot
    h.live(msg(7, 110, update(1, "a2")));  // txid >= xmax: not in the snapshot
    EXPECT_EQ(h.sync.buffered(), 3u);
    EXPECT_TRUE(h.applied.empty());
    h.snapshot(req, 100, 110, {102}, 4, {insert(1, "a")});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{6, 7}));
    EXPECT_EQ(h.v(1), "a2");
    EXPECT_EQ(h.v(2), "b");
    EXPECT_EQ(h.sync.last_seq(), 7u);
    EXPECT_EQ(h.sync.stats().skipped_visible, 1u);
    EXPECT_EQ(h.snapshot_rows, 1u);
}

// The relay lags the database: transactions 101 and 103 committed before the
// snapshot (so its rows contain them) but were published after it, with seq
// above the snapshot's seq. Skipping by seq alone would apply them twice;
// the visibility rule skips them.
TEST(TableSync, RelayLagHandledByVisibility) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.snapshot(req, 104, 106, {104}, 3, {insert(1, "a"), insert(2, "b")});
    ASSERT_EQ(h.sync.state(), SyncState::live);
    h.live(msg(4, 101, insert(2, "b")));  // already in the rows
    h.live(msg(5, 103, del(1)));          // already in the rows... as a missing row
    h.live(msg(6, 104, insert(3, "c")));  // in progress at snapshot time
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{6}));
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_EQ(h.sync.mirror().size(), 3u);
}

TEST(TableSync, DuplicatesDropped) {
    Harness h;
    h.go_live(0);
    h.live(msg(1, 200, insert(1, "a")));
    h.live(msg(2, 201, insert(2, "b")));
    h.live(msg(1, 200, insert(1, "a")));  // relay restart republishes
    h.live(msg(2, 201, insert(2, "b")));
    h.live(msg(3, 202, del(1)));
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(h.sync.stats().duplicates, 2u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_EQ(h.sync.mirror().size(), 1u);
}

// s."t.u" and "s.t".u share the topic "s.t.u" (docs/protocol.md section
// 2): a table's stream is only what names it. Another table's change took
// the seq (the table's own change of that seq became a "duplicate"), and
// its rename notice stopped the table.
TEST(TableSync, AnotherTableOnTheSameTopicIsIgnored) {
    Harness h;
    h.go_live(0);
    auto other = msg(1, 200, insert(9, "other"));
    other.set_schema_name("public.t");
    other.set_table_name("");
    h.live(other);
    auto gone = heartbeat(1);
    gone.set_table_name("t2");
    gone.mutable_heartbeat()->set_moved_to_schema("s");
    gone.mutable_heartbeat()->set_moved_to_table("v");
    h.live(gone);
    h.live(msg(1, 201, insert(1, "mine")));
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.applied, std::vector<std::uint64_t>{1});
    EXPECT_EQ(h.sync.mirror().size(), 1u);
    EXPECT_EQ(h.sync.stats().duplicates, 0u);
}

TEST(TableSync, GapTriggersReplay) {
    Harness h;
    h.go_live(0);
    h.live(msg(1, 200, insert(1, "a")));
    h.live(msg(4, 203, insert(4, "d")));  // 2 and 3 lost
    EXPECT_EQ(h.sync.state(), SyncState::replaying);
    auto req = h.take();
    EXPECT_EQ(req.replay().from_seq(), 2u);
    EXPECT_EQ(req.replay().to_seq(), 3u);
    h.live(msg(5, 204, insert(5, "e")));  // buffered meanwhile
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{1}));
    h.replay(req, {msg(2, 201, insert(2, "b")), msg(3, 202, update(2, "b2"))});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(h.v(2), "b2");
    EXPECT_EQ(h.sync.buffered(), 0u);
}

// The lost *last* message: nothing follows it but the heartbeat.
TEST(TableSync, HeartbeatRevealsLostLastMessage) {
    Harness h;
    h.go_live(0);
    h.live(msg(1, 200, insert(1, "a")));
    h.live(heartbeat(1));
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_FALSE(h.sync.take_request());
    h.live(heartbeat(2));
    EXPECT_EQ(h.sync.state(), SyncState::replaying);
    EXPECT_EQ(h.sync.lag(), 1u);
    auto req = h.take();
    EXPECT_EQ(req.replay().from_seq(), 2u);
    EXPECT_EQ(req.replay().to_seq(), 2u);
    h.replay(req, {msg(2, 201, del(1))});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_TRUE(h.sync.mirror().empty());
    EXPECT_EQ(h.sync.lag(), 0u);
}

TEST(TableSync, ReplayGoneResyncs) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    h.live(msg(9, 300, insert(9, "i")));
    auto req = h.take();
    h.error(req, v1::GONE);
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    auto snap = h.take();
    ASSERT_TRUE(snap.has_snapshot());
    h.live(msg(10, 301, insert(10, "j")));
    // The new snapshot has everything up to seq 9 (and row 5 from seqs 2..8).
    h.snapshot(snap, 301, 302, {301}, 9, {insert(1, "a"), insert(5, "x"), insert(9, "i")});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.mirror().size(), 4u);
    EXPECT_EQ(h.v(10), "j");
    EXPECT_EQ(h.sync.stats().resyncs, 1u);
}

// The SUB subscription took effect late: the first buffered message is not
// the one after the snapshot's seq.
TEST(TableSync, MissedBeforeFirstBufferedMessageIsReplayed) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.live(msg(8, 208, insert(8, "h")));
    h.snapshot(req, 205, 205, {}, 5, {});
    EXPECT_EQ(h.sync.state(), SyncState::replaying);
    auto rep = h.take();
    EXPECT_EQ(rep.replay().from_seq(), 6u);
    EXPECT_EQ(rep.replay().to_seq(), 7u);
    h.replay(rep, {msg(6, 204, insert(6, "f")), msg(7, 206, insert(7, "g"))});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{7, 8}));  // 6 was in the snapshot
}

TEST(TableSync, StaleRepliesIgnored) {
    Harness h;
    h.sync.start(h.now);
    auto first = h.take();
    h.sync.on_request_failed(first.request_id(), "timeout", h.now);
    EXPECT_FALSE(h.sync.take_request());  // retried after retry_delay
    h.now += 600ms;
    h.sync.tick(h.now);
    auto second = h.take();
    EXPECT_NE(first.request_id(), second.request_id());
    h.snapshot(first, 1, 1, {}, 0, {insert(1, "old")});
    EXPECT_EQ(h.sync.state(), SyncState::syncing);
    EXPECT_TRUE(h.sync.mirror().empty());
    h.snapshot(second, 1, 1, {}, 0, {insert(1, "new")});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.v(1), "new");
}

TEST(TableSync, SchemaVisibleInSnapshotIsAdopted) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.live(schema_msg(5, 150, schema(true)));
    h.snapshot(req, 160, 160, {}, 4, {insert(1, "a")});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.schema().columns_size(), 3);
    EXPECT_EQ(h.sync.schema_seq(), 5u);
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
}

TEST(TableSync, SchemaAddingColumnResyncs) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    h.live(schema_msg(1, 200, schema(true)));
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
}

TEST(TableSync, SchemaDroppingColumnKeepsGoing) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    auto s = schema();
    s.mutable_columns()->RemoveLast();
    h.live(schema_msg(1, 200, s));
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.schema_seq(), 1u);
    google::protobuf::RepeatedPtrField<v1::Column> k;
    fill(&k, {{"id", ival(1)}});
    EXPECT_EQ(h.sync.mirror().find(k)->count("v"), 0u);
}

TEST(TableSync, UnpublishThenRepublish) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    v1::Change u;
    u.set_op(v1::UNPUBLISH);
    h.live(msg(1, 200, u));
    EXPECT_EQ(h.sync.state(), SyncState::unpublished);
    EXPECT_TRUE(h.sync.mirror().empty());
    h.live(heartbeat(1));
    EXPECT_FALSE(h.sync.take_request());
    h.live(schema_msg(2, 300, schema()));
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
}

TEST(TableSync, NotPublishedRetriesSlowly) {
    Harness h;
    h.sync.start(h.now);
    h.error(h.take(), v1::NOT_PUBLISHED);
    EXPECT_EQ(h.sync.state(), SyncState::unpublished);
    h.now += 1s;
    h.sync.tick(h.now);
    EXPECT_FALSE(h.sync.take_request());
    h.now += 5s;
    h.sync.tick(h.now);
    EXPECT_TRUE(h.take().has_snapshot());
}

TEST(TableSync, ColumnNotPublishedFails) {
    SyncOptions o;
    o.columns = {"secret"};
    Harness h(o);
    h.sync.start(h.now);
    auto req = h.take();
    ASSERT_EQ(req.snapshot().columns_size(), 1);
    h.error(req, v1::COLUMN_NOT_PUBLISHED);
    EXPECT_EQ(h.sync.state(), SyncState::failed);
    h.live(msg(1, 1, insert(1, "a")));
    EXPECT_FALSE(h.sync.take_request());
}

TEST(TableSync, AnomalyResyncs) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    h.live(msg(1, 200, update(2, "zz")));  // row 2 is not in the mirror
    EXPECT_EQ(h.sync.stats().anomalies, 1u);
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
}

TEST(TableSync, AnomalyToleratedWhenAsked) {
    SyncOptions o;
    o.resync_on_anomaly = false;
    Harness h(o);
    h.go_live(0);
    h.live(msg(1, 200, del(1)));
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.stats().anomalies, 1u);
}

TEST(TableSync, RowCountMismatchRetriesSnapshot) {
    Harness h;
    h.sync.start(h.now);
    h.snapshot(h.take(), 1, 1, {}, 0, {insert(1, "a")}, 1);
    EXPECT_EQ(h.sync.state(), SyncState::syncing);
    h.now += 1s;
    h.sync.tick(h.now);
    EXPECT_TRUE(h.take().has_snapshot());
}

TEST(TableSync, HeartbeatRegressionResyncs) {
    Harness h;
    h.go_live(0);
    for (std::uint64_t s = 1; s <= 5; ++s) h.live(msg(s, 200 + s, insert(static_cast<std::int64_t>(s), "x")));
    h.live(heartbeat(2));  // a restarted relay may briefly be behind
    h.live(heartbeat(5));
    h.live(heartbeat(2));
    h.live(heartbeat(2));
    EXPECT_EQ(h.sync.state(), SyncState::live);
    h.live(heartbeat(2));
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
}

TEST(TableSync, BufferOverflowRecoveredByReplay) {
    SyncOptions o;
    o.max_buffered = 2;
    Harness h(o);
    h.sync.start(h.now);
    auto req = h.take();
    h.live(msg(1, 201, insert(1, "a")));
    h.live(msg(2, 202, insert(2, "b")));
    h.live(msg(3, 203, insert(3, "c")));  // dropped
    EXPECT_EQ(h.sync.stats().dropped, 1u);
    h.snapshot(req, 200, 200, {}, 0, {});
    EXPECT_EQ(h.sync.state(), SyncState::replaying);
    auto rep = h.take();
    EXPECT_EQ(rep.replay().from_seq(), 3u);
    EXPECT_EQ(rep.replay().to_seq(), 3u);
    h.replay(rep, {msg(3, 203, insert(3, "c"))});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.mirror().size(), 3u);
}

TEST(TableSync, ReplayShortRetriesThenResyncs) {
    SyncOptions o;
    o.max_replay_attempts = 2;
    Harness h(o);
    h.go_live(0);
    h.live(heartbeat(3));
    auto rep = h.take();
    h.replay(rep, {msg(1, 201, insert(1, "a"))});  // not durable yet beyond 1
    EXPECT_EQ(h.sync.state(), SyncState::replaying);
    h.now += 1s;
    h.sync.tick(h.now);
    rep = h.take();
    EXPECT_EQ(rep.replay().from_seq(), 2u);
    h.replay(rep, {});  // nothing new: second fruitless attempt
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
}

// A relay restarting under load answers nothing or UNAVAILABLE for longer
// than max_replay_attempts tries: the mirror must wait, not resync.
TEST(TableSync, ReplayWaitsOutARelayThatDoesNotAnswer) {
    Harness h;
    h.go_live(0);
    h.live(heartbeat(2));
    for (int i = 0; i < 3 * static_cast<int>(SyncOptions{}.max_replay_attempts); ++i) {
        auto rep = h.take();
        ASSERT_TRUE(rep.has_replay());
        if (i % 2)
            h.error(rep, v1::UNAVAILABLE);
        else
            h.sync.on_request_failed(rep.request_id(), "no reply from the snapshot endpoint", h.now);
        EXPECT_EQ(h.sync.state(), SyncState::replaying);
        EXPECT_FALSE(h.sync.take_request());
        h.now += 10s;
        h.sync.tick(h.now);
    }
    h.replay(h.take(), {msg(1, 201, insert(1, "a")), msg(2, 202, insert(2, "b"))});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
}

TEST(TableSync, ReplayRefusedForRealResyncsAfterMaxAttempts) {
    Harness h;
    h.go_live(0);
    h.live(heartbeat(2));
    for (unsigned i = 0; i < SyncOptions{}.max_replay_attempts; ++i) {
        h.error(h.take(), v1::INTERNAL);
        h.now += 1s;
        h.sync.tick(h.now);
    }
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
}

TEST(TableSync, StaleAfterMissedHeartbeats) {
    Harness h;
    h.go_live(0);
    h.live(heartbeat(0, 1000));
    EXPECT_FALSE(h.sync.stale(h.now + 2s));
    EXPECT_TRUE(h.sync.stale(h.now + 4s));
}

TEST(TableSync, TruncateAndKeyChangeAfterSnapshot) {
    Harness h;
    h.go_live(0, {insert(1, "a"), insert(2, "b")});
    h.live(msg(1, 200, update(3, "", 1)));
    EXPECT_EQ(h.v(3), "a");
    h.live(msg(2, 201, truncate()));
    EXPECT_TRUE(h.sync.mirror().empty());
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
}

namespace {

v1::Message resync_msg(std::uint64_t seq, std::uint64_t txid, const std::string& reason) {
    v1::Change c;
    c.set_op(v1::RESYNC);
    c.set_reason(reason);
    return msg(seq, txid, c);
}

v1::Message unpublished_heartbeat(std::uint64_t seq) {
    auto m = heartbeat(seq);
    m.mutable_heartbeat()->set_unpublished(true);
    return m;
}

v1::Message moved_heartbeat(std::uint64_t seq, const std::string& schema, const std::string& table) {
    auto m = heartbeat(seq);
    m.mutable_heartbeat()->set_moved_to_schema(schema);
    m.mutable_heartbeat()->set_moved_to_table(table);
    return m;
}

}  // namespace

// A RESYNC marker drops the copy at once, asks for a new snapshot, counts as
// a resync (not an anomaly) and reaches the application; the stream then
// continues from the new snapshot.
TEST(TableSync, ResyncMarkerTakesNewSnapshot) {
    Harness h;
    std::string why;
    h.go_live(0, {insert(1, "a"), insert(2, "b")});
    h.live(msg(1, 200, insert(3, "c")));
    h.live(resync_msg(2, 201, "partition \"public\".\"t_1\" detached"));
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.sync.mirror().empty());
    EXPECT_EQ(h.sync.stats().resyncs, 1u);
    EXPECT_EQ(h.sync.stats().resync_markers, 1u);
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
    EXPECT_EQ(h.applied, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_NE(h.sync.reason().find("t_1"), std::string::npos);
    auto req = h.take();
    ASSERT_TRUE(req.has_snapshot());
    h.live(msg(3, 205, insert(4, "d")));  // buffered during the snapshot
    h.snapshot(req, 203, 203, {}, 2, {insert(1, "a"), insert(3, "c")});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.mirror().size(), 3u);
    EXPECT_EQ(h.v(4), "d");
    EXPECT_EQ(h.sync.stats().resyncs, 1u);
}

// A RESYNC whose transaction the snapshot already contains changes nothing:
// no second snapshot (else every joiner would resync once more).
TEST(TableSync, ResyncMarkerContainedInSnapshotSkipped) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.live(resync_msg(5, 150, "operator"));
    h.snapshot(req, 200, 200, {}, 4, {insert(1, "a")});
    EXPECT_EQ(h.sync.state(), SyncState::live);
    EXPECT_EQ(h.sync.last_seq(), 5u);
    EXPECT_EQ(h.sync.mirror().size(), 1u);
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
    EXPECT_FALSE(h.sync.take_request());
}

// A RESYNC among replayed messages stops the replay and resyncs.
TEST(TableSync, ResyncMarkerInReplay) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    h.live(msg(3, 203, insert(3, "c")));
    auto rep = h.take();
    ASSERT_TRUE(rep.has_replay());
    h.replay(rep, {msg(1, 201, insert(2, "b")), resync_msg(2, 202, "skipped")});
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
    EXPECT_EQ(h.sync.stats().anomalies, 0u);
}

// Heartbeat.unpublished: an unpublished table is not stale, its copy is
// dropped (the UNPUBLISH itself may have been lost), and nothing is asked.
TEST(TableSync, UnpublishedHeartbeat) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    h.live(unpublished_heartbeat(1));
    EXPECT_EQ(h.sync.state(), SyncState::unpublished);
    EXPECT_TRUE(h.sync.mirror().empty());
    EXPECT_FALSE(h.sync.take_request());
    EXPECT_EQ(h.sync.lag(), 0u);
    h.now += 1h;
    h.sync.tick(h.now);
    EXPECT_FALSE(h.sync.stale(h.now));
    EXPECT_FALSE(h.sync.take_request());
    h.live(unpublished_heartbeat(1));
    h.live(heartbeat(1));  // sent before the relay saw the UNPUBLISH
    EXPECT_FALSE(h.sync.take_request());
    // Published again, its SCHEMA message lost: the heartbeat shows it.
    h.live(heartbeat(2));
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
}

// An unpublished heartbeat while the first snapshot is under way: the
// snapshot is abandoned (its id no longer pending), no retry loop.
TEST(TableSync, UnpublishedHeartbeatWhileJoining) {
    Harness h;
    h.sync.start(h.now);
    auto req = h.take();
    h.live(unpublished_heartbeat(7));
    EXPECT_EQ(h.sync.state(), SyncState::unpublished);
    EXPECT_EQ(h.sync.pending_request_id(), 0u);
    h.error(req, v1::NOT_PUBLISHED);  // the abandoned stream's answer
    h.now += 1h;
    h.sync.tick(h.now);
    EXPECT_FALSE(h.sync.take_request());
}

// Heartbeat.moved_to: the status names the new topic; no replay of the
// announced seq (it belongs to the new topic), no request at all, not stale.
TEST(TableSync, MovedHeartbeat) {
    Harness h;
    h.go_live(0, {insert(1, "a")});
    h.live(msg(1, 200, insert(2, "b")));
    h.live(moved_heartbeat(2, "public", "t_new"));
    EXPECT_EQ(h.sync.state(), SyncState::moved);
    EXPECT_EQ(h.sync.moved_to(), "public.t_new");
    EXPECT_EQ(h.states.back(), "moved");
    EXPECT_EQ(h.sync.mirror().size(), 2u);  // as it was at the rename
    EXPECT_EQ(h.sync.lag(), 0u);
    for (int i = 0; i < 10; ++i) {
        h.now += 5s;
        h.live(moved_heartbeat(2, "public", "t_new"));
        h.sync.tick(h.now);
        EXPECT_FALSE(h.sync.take_request());
    }
    EXPECT_FALSE(h.sync.stale(h.now + 1h));
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
    EXPECT_EQ(h.sync.stats().replays, 0u);
    // Renamed back: its SCHEMA message arrives on this topic again.
    h.live(schema_msg(3, 300, schema()));
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_EQ(h.sync.moved_to(), "");
    EXPECT_TRUE(h.take().has_snapshot());
}

// MOVED answering a replay (the rename heartbeat was lost): moved, once.
TEST(TableSync, MovedErrorOnReplay) {
    Harness h;
    h.go_live(0);
    h.live(heartbeat(4));
    auto rep = h.take();
    ASSERT_TRUE(rep.has_replay());
    h.moved(rep, "archive", "t", "table \"public\".\"t\" was renamed");
    EXPECT_EQ(h.sync.state(), SyncState::moved);
    EXPECT_EQ(h.sync.moved_to(), "archive.t");
    EXPECT_NE(h.sync.reason().find("MOVED"), std::string::npos);
    h.now += 1h;
    h.sync.tick(h.now);
    h.live(heartbeat(4));  // a late heartbeat from before the rename
    EXPECT_FALSE(h.sync.take_request());
    EXPECT_EQ(h.sync.stats().resyncs, 0u);
}

TEST(TableSync, MovedErrorOnSnapshot) {
    Harness h;
    h.sync.start(h.now);
    h.moved(h.take(), "s", "u");
    EXPECT_EQ(h.sync.state(), SyncState::moved);
    EXPECT_EQ(h.sync.moved_to(), "s.u");
    h.now += 1h;
    h.sync.tick(h.now);
    EXPECT_FALSE(h.sync.take_request());
}

// FORBIDDEN and TOO_LARGE: a clear state and reason, asked again only after
// unpublished_retry (no tight loop).
TEST(TableSync, ForbiddenAndTooLargeRetrySlowly) {
    for (auto code : {v1::FORBIDDEN, v1::TOO_LARGE}) {
        Harness h;
        h.sync.start(h.now);
        h.error(h.take(), code);
        EXPECT_EQ(h.sync.state(), SyncState::failed);
        EXPECT_EQ(h.sync.reason().rfind(v1::ErrorCode_Name(code), 0), 0u) << h.sync.reason();
        h.now += 4s;
        h.sync.tick(h.now);
        h.live(msg(1, 1, insert(1, "a")));
        h.live(heartbeat(1));
        EXPECT_FALSE(h.sync.take_request());
        h.now += 2s;
        h.sync.tick(h.now);
        EXPECT_TRUE(h.take().has_snapshot());
    }
}

// FORBIDDEN on a replay (the key lost its rights): failed, slow snapshot retry.
TEST(TableSync, ForbiddenReplay) {
    Harness h;
    h.fail_replay(v1::FORBIDDEN);
    EXPECT_EQ(h.sync.state(), SyncState::failed);
    EXPECT_FALSE(h.sync.take_request());
    h.now += 6s;
    h.sync.tick(h.now);
    EXPECT_TRUE(h.take().has_snapshot());
}

// TOO_LARGE on a replay: the snapshot may carry the row as it is now.
TEST(TableSync, TooLargeReplayResyncs) {
    Harness h;
    h.fail_replay(v1::TOO_LARGE);
    EXPECT_EQ(h.sync.state(), SyncState::resyncing);
    EXPECT_TRUE(h.take().has_snapshot());
}

// SQL_ASCII text that is not UTF-8 stays bytes in the mirror, as key or value.
TEST(TableSync, RawTextKeptAsBytes) {
    Harness h;
    const std::string latin1("caf\xe9", 4);
    v1::Change c;
    c.set_op(v1::INSERT);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_raw_text(latin1);
    auto* v = c.add_values();
    v->set_name("v");
    v->mutable_value()->set_raw_text(std::string("\xff\x00", 2));
    h.go_live(0, {c});
    google::protobuf::RepeatedPtrField<v1::Column> key;
    fill(&key, {{"id", [&] {
                     v1::Value x;
                     x.set_raw_text(latin1);
                     return x;
                 }()}});
    const auto* row = h.sync.mirror().find(key);
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->at("v").raw_text(), std::string("\xff\x00", 2));
    // Text "café" in UTF-8 is another key.
    google::protobuf::RepeatedPtrField<v1::Column> utf8;
    fill(&utf8, {{"id", tval("caf\xc3\xa9")}});
    EXPECT_EQ(h.sync.mirror().find(utf8), nullptr);
}

// A callback that throws must not change what the engine does: the change
// stays applied (once), the engine finishes the step, and the first
// exception waits for the driver (Subscriber::poll) to rethrow it.
TEST(TableSync, ThrowingCallbackLeavesTheChangeAppliedOnce) {
    std::vector<std::uint64_t> calls;
    std::vector<std::string> states;
    TableSync sync("public", "t", {},
                   {.on_snapshot_begin = {},
                    .on_snapshot_row = {},
                    .on_snapshot_end = {},
                    .on_change =
                        [&](const std::string&, const v1::Message& m) {
                            calls.push_back(m.seq());
                            if (m.seq() == 2 || m.seq() == 3 || m.seq() == 6)
                                throw std::runtime_error("callback failed at seq " + std::to_string(m.seq()));
                        },
                    .on_state =
                        [&](const std::string&, SyncState, SyncState to, const std::string&) {
                            states.push_back(to_string(to));
                            throw std::runtime_error(std::string("state ") + to_string(to));
                        }});
    const TableSync::Clock::time_point now{};
    sync.start(now);
    auto req = sync.take_request();
    ASSERT_TRUE(req);
    // Buffered during the snapshot, applied by the drain at its end: the
    // state callback and two change callbacks throw within that one step.
    for (std::uint64_t seq = 1; seq <= 4; ++seq)
        EXPECT_NO_THROW(sync.on_message(msg(seq, 200 + seq, insert(static_cast<std::int64_t>(seq), "a")), now));
    v1::Reply b;
    b.set_request_id(req->request_id());
    auto* sb = b.mutable_snapshot_begin();
    sb->set_xmin(100);
    sb->set_xmax(100);
    sb->set_schema_seq(1);
    *sb->mutable_schema() = schema();
    EXPECT_NO_THROW(sync.on_reply(b, now));
    v1::Reply e;
    e.set_request_id(req->request_id());
    e.mutable_snapshot_end()->set_row_count(0);
    EXPECT_NO_THROW(sync.on_reply(e, now));
    EXPECT_EQ(sync.state(), SyncState::live);
    EXPECT_EQ(states, std::vector<std::string>{"live"});
    EXPECT_EQ(calls, (std::vector<std::uint64_t>{1, 2, 3, 4}));
    EXPECT_EQ(sync.last_seq(), 4u);
    EXPECT_EQ(sync.mirror().size(), 4u);
    EXPECT_EQ(sync.stats().applied, 4u);
    ASSERT_TRUE(sync.callback_failed());
    auto err = sync.take_callback_error();
    ASSERT_TRUE(err);
    try {
        std::rethrow_exception(err);
    } catch (const std::runtime_error& ex) {
        EXPECT_STREQ(ex.what(), "state live");  // the first one; the later ones are dropped
    }
    EXPECT_FALSE(sync.callback_failed());
    EXPECT_FALSE(sync.take_callback_error());

    // Live: the failing change is applied, the next ones follow, none twice.
    EXPECT_NO_THROW(sync.on_message(msg(5, 205, insert(5, "a")), now));
    EXPECT_FALSE(sync.callback_failed());
    EXPECT_NO_THROW(sync.on_message(msg(6, 206, update(5, "b")), now));
    EXPECT_TRUE(sync.callback_failed());
    EXPECT_NO_THROW(sync.on_message(msg(6, 206, update(5, "b")), now));  // a duplicate stays one
    EXPECT_NO_THROW(sync.on_message(msg(7, 207, del(1)), now));
    EXPECT_TRUE(sync.take_callback_error());
    EXPECT_EQ(calls, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(sync.last_seq(), 7u);
    EXPECT_EQ(sync.mirror().size(), 4u);
    google::protobuf::RepeatedPtrField<v1::Column> k;
    fill(&k, {{"id", ival(5)}});
    ASSERT_NE(sync.mirror().find(k), nullptr);
    EXPECT_EQ(sync.mirror().find(k)->at("v").text(), "b");
    EXPECT_EQ(sync.stats().applied, 7u);
    EXPECT_EQ(sync.stats().duplicates, 1u);
    EXPECT_EQ(sync.stats().anomalies, 0u);
}
