// tablepub-tail's repair of the raw stream (issue 15): replay what ZeroMQ
// dropped, print in seq order, each message once; report what cannot be
// replayed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tablepub.pb.h"
#include "tail/tail_repair.hpp"

namespace tablepub {
namespace {

using Clock = TailRepair::Clock;
using namespace std::chrono_literals;

v1::Message change(std::uint64_t seq, const std::string& table = "t") {
    v1::Message m;
    m.set_schema_name("s");
    m.set_table_name(table);
    m.set_seq(seq);
    m.set_txid(100 + seq);
    m.mutable_change()->set_op(v1::INSERT);
    return m;
}

v1::Message heartbeat(std::uint64_t seq) {
    v1::Message m;
    m.set_schema_name("s");
    m.set_table_name("t");
    m.set_seq(seq);
    m.mutable_heartbeat()->set_interval_ms(1000);
    return m;
}

struct Fixture {
    explicit Fixture(TailRepairOptions o = {})
        : repair(o, {[this](std::string_view topic, const v1::Message& m) {
                         (m.has_heartbeat() ? heartbeats : printed).push_back(m.seq());
                         topics.emplace_back(topic);
                     },
                     [this](const TailGap& g, const std::string& why) {
                         lost.push_back(g);
                         reasons.push_back(why);
                     }}) {}

    void live(const v1::Message& m, const std::string& topic = "s.t") {
        repair.on_live(topic, m, m.SerializeAsString(), now);
    }
    // The replay requests sent since the last call (credit and cancels apart).
    std::vector<v1::Request> replays() {
        std::vector<v1::Request> out;
        for (auto& r : repair.take_requests()) {
            if (r.has_replay())
                out.push_back(r);
            else if (r.has_credit_grant())
                ++credits;
            else if (r.has_cancel())
                ++cancels;
        }
        return out;
    }
    // Lets `d` pass (the repair's timers run), then replays().
    std::vector<v1::Request> replays_after(std::chrono::milliseconds d) {
        now += d;
        repair.tick(now);
        return replays();
    }
    void begin(std::uint64_t id, std::uint64_t from, std::uint64_t to) {
        v1::Reply r;
        r.set_request_id(id);
        r.mutable_replay_begin()->set_from_seq(from);
        r.mutable_replay_begin()->set_to_seq(to);
        repair.on_reply(r, now);
    }
    void chunk(std::uint64_t id, std::uint64_t from, std::uint64_t to, const std::string& table = "t") {
        v1::Reply r;
        r.set_request_id(id);
        for (auto s = from; s <= to; ++s) *r.mutable_replay_messages()->add_messages() = change(s, table);
        repair.on_reply(r, now);
    }
    void end(std::uint64_t id) {
        v1::Reply r;
        r.set_request_id(id);
        r.mutable_replay_end();
        repair.on_reply(r, now);
    }
    void error(std::uint64_t id, v1::ErrorCode code, const std::string& moved_table = "") {
        v1::Reply r;
        r.set_request_id(id);
        r.mutable_error()->set_code(code);
        r.mutable_error()->set_message("because");
        if (!moved_table.empty()) {
            r.mutable_error()->set_moved_to_schema("s");
            r.mutable_error()->set_moved_to_table(moved_table);
        }
        repair.on_reply(r, now);
    }

    Clock::time_point now = Clock::now();
    std::vector<std::uint64_t> printed, heartbeats;
    std::vector<std::string> topics;
    std::vector<TailGap> lost;
    std::vector<std::string> reasons;
    int credits = 0, cancels = 0;
    TailRepair repair;
};

std::vector<std::uint64_t> range(std::uint64_t a, std::uint64_t b) {
    std::vector<std::uint64_t> v;
    for (auto s = a; s <= b; ++s) v.push_back(s);
    return v;
}

TEST(TailRepair, ContiguousStreamNeedsNoReplay) {
    Fixture f;
    for (std::uint64_t s = 40; s <= 45; ++s) f.live(change(s));  // joined at 40
    f.live(heartbeat(45));
    f.live(change(44));  // a duplicate (relay restart): dropped
    EXPECT_EQ(f.printed, range(40, 45));
    EXPECT_EQ(f.heartbeats, std::vector<std::uint64_t>{45});
    EXPECT_TRUE(f.replays().empty());
    EXPECT_TRUE(f.repair.idle());
    EXPECT_EQ(f.repair.stats().duplicates, 1u);
}

// The core of issue 15: what the relay dropped is replayed and printed
// before what arrived after it, and what arrives meanwhile waits.
TEST(TailRepair, GapIsReplayedInOrderWithoutDuplicates) {
    Fixture f;
    f.live(change(1));
    f.live(change(2));
    f.live(change(6));  // 3..5 dropped
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    EXPECT_EQ(req[0].replay().schema_name(), "s");
    EXPECT_EQ(req[0].replay().table_name(), "t");
    EXPECT_EQ(req[0].replay().from_seq(), 3u);
    EXPECT_EQ(req[0].replay().to_seq(), 0u);  // everything durable
    EXPECT_GT(req[0].credit(), 0u);
    const auto id = req[0].request_id();
    f.live(change(7));  // live, while the replay runs: waits
    f.live(change(9));  // and another hole
    EXPECT_EQ(f.printed, range(1, 2));
    f.begin(id, 3, 8);
    f.chunk(id, 3, 5);
    EXPECT_EQ(f.printed, range(1, 7));  // 6 and 7 follow the replayed ones at once
    f.chunk(id, 6, 8);                  // what the buffer held comes again: dropped
    EXPECT_EQ(f.printed, range(1, 9));
    EXPECT_TRUE(f.replays().empty());
    EXPECT_EQ(f.credits, 2);  // one per chunk
    f.end(id);
    EXPECT_TRUE(f.replays().empty());
    EXPECT_TRUE(f.repair.idle());
    EXPECT_TRUE(f.lost.empty());
    EXPECT_EQ(f.repair.stats().replayed, 4u);  // 3, 4, 5, 8
    EXPECT_EQ(f.repair.buffered_bytes(), 0u);
}

// The lost *last* message: only a heartbeat tells; it is not printed
// before the change it announces.
TEST(TailRepair, HeartbeatRevealsLostLastMessage) {
    Fixture f;
    f.live(change(3));
    f.live(heartbeat(5));
    EXPECT_TRUE(f.heartbeats.empty());
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    EXPECT_EQ(req[0].replay().from_seq(), 4u);
    f.chunk(req[0].request_id(), 4, 5);
    f.end(req[0].request_id());
    f.live(heartbeat(5));
    EXPECT_EQ(f.printed, range(3, 5));
    EXPECT_EQ(f.heartbeats, std::vector<std::uint64_t>{5});
    EXPECT_TRUE(f.repair.idle());
}

// GONE: the messages left the retention window. Reported once with the
// exact range; the stream continues after it.
TEST(TailRepair, GoneIsReportedAndTheStreamContinues) {
    Fixture f;
    f.live(change(10));
    f.live(change(15));
    f.live(change(16));
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    f.error(req[0].request_id(), v1::GONE);
    ASSERT_EQ(f.lost.size(), 1u);
    EXPECT_EQ(f.lost[0].table, "s.t");
    EXPECT_EQ(f.lost[0].first, 11u);
    EXPECT_EQ(f.lost[0].last, 14u);
    EXPECT_NE(f.reasons[0].find("GONE"), std::string::npos);
    EXPECT_EQ(f.printed, (std::vector<std::uint64_t>{10, 15, 16}));
    EXPECT_EQ(f.repair.stats().lost_messages, 4u);
    EXPECT_TRUE(f.replays().empty());
    EXPECT_TRUE(f.repair.idle());
}

// Past the buffer's bound live messages are dropped, and fetched by the
// next replay: memory stays bounded and nothing is lost.
TEST(TailRepair, FullBufferDropsAndReplaysAgain) {
    TailRepairOptions o;
    o.max_buffered_bytes = 3 * (change(1).ByteSizeLong() + 64);
    Fixture f(o);
    f.live(change(1));
    for (std::uint64_t s = 5; s <= 12; ++s) f.live(change(s));  // 2..4 dropped; 5..7 fit
    EXPECT_EQ(f.repair.stats().dropped, 5u);
    EXPECT_LE(f.repair.stats().max_buffered_bytes, o.max_buffered_bytes);
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    // The relay had made 2..4 durable when it began; 8..12 come later.
    f.begin(req[0].request_id(), 2, 4);
    f.chunk(req[0].request_id(), 2, 4);
    f.end(req[0].request_id());
    EXPECT_EQ(f.printed, range(1, 7));
    req = f.replays();  // progress: asked again at once
    ASSERT_EQ(req.size(), 1u);
    EXPECT_EQ(req[0].replay().from_seq(), 8u);
    f.chunk(req[0].request_id(), 8, 12);
    f.end(req[0].request_id());
    EXPECT_EQ(f.printed, range(1, 12));
    EXPECT_TRUE(f.lost.empty());
    EXPECT_TRUE(f.repair.idle());
}

// A relay that does not answer (or answers UNAVAILABLE, BUSY, TIMEOUT) is
// down, restarting or busy: cancelled, a new connection, asked again, 100 ms
// more each time up to 10 retry delays, and never given up for that (as the
// libraries); a late reply of a cancelled stream changes nothing.
TEST(TailRepair, TransientFailuresAreRetriedWithBackoffNeverGivenUp) {
    TailRepairOptions o;
    o.request_timeout = 1s;
    o.retry_delay = 100ms;
    o.max_attempts = 3;
    Fixture f(o);
    f.live(change(1));
    f.live(change(4));
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    const auto first = req[0];
    std::vector<long> delays;
    for (int attempt = 0; attempt < 14; ++attempt) {
        if (attempt % 3 == 0) {
            f.now += 2s;  // no reply
            f.repair.tick(f.now);
            EXPECT_TRUE(f.repair.take_reconnect());
        } else {
            f.error(req[0].request_id(), attempt % 3 == 1 ? v1::UNAVAILABLE : v1::BUSY);
        }
        const auto failed_at = f.now;
        for (int wait = 0; wait < 100 && (req = f.replays()).empty(); ++wait) {
            f.now += 50ms;
            f.repair.tick(f.now);
        }
        ASSERT_EQ(req.size(), 1u) << attempt;
        EXPECT_EQ(req[0].replay().from_seq(), 2u);
        delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(f.now - failed_at).count());
    }
    EXPECT_EQ(delays, (std::vector<long>{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1000, 1000, 1000, 1000}));
    EXPECT_TRUE(f.lost.empty());
    f.chunk(first.request_id(), 2, 3);
    EXPECT_EQ(f.printed, (std::vector<std::uint64_t>{1}));
    // An answer resets the delay; the gap closes.
    f.begin(req[0].request_id(), 2, 3);
    f.chunk(req[0].request_id(), 2, 3);
    f.end(req[0].request_id());
    EXPECT_EQ(f.printed, range(1, 4));
    EXPECT_TRUE(f.repair.idle());
}

// Answers that a retry may change but that are not "not now" count as
// attempts: given up (reported) after max_attempts.
TEST(TailRepair, InternalErrorsAreRetriedThenReported) {
    TailRepairOptions o;
    o.retry_delay = 100ms;
    o.max_attempts = 3;
    Fixture f(o);
    f.live(change(1));
    f.live(change(4));
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto req = f.replays_after(1s);
        ASSERT_EQ(req.size(), 1u) << attempt;
        f.error(req[0].request_id(), v1::INTERNAL);
    }
    ASSERT_EQ(f.lost.size(), 1u);
    EXPECT_EQ(f.lost[0].first, 2u);
    EXPECT_EQ(f.lost[0].last, 3u);
    EXPECT_NE(f.reasons[0].find("INTERNAL"), std::string::npos);
    EXPECT_EQ(f.printed, (std::vector<std::uint64_t>{1, 4}));
}

// "Nothing durable yet": the relay publishes before it stores its
// position; the tail asks again after a delay, and replays then.
TEST(TailRepair, NothingYetIsAskedAgainLater) {
    TailRepairOptions o;
    o.retry_delay = 100ms;
    Fixture f(o);
    f.live(change(1));
    f.live(heartbeat(3));
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    f.begin(req[0].request_id(), 2, 1);
    f.end(req[0].request_id());
    EXPECT_TRUE(f.replays().empty());
    req = f.replays_after(150ms);
    ASSERT_EQ(req.size(), 1u);
    f.chunk(req[0].request_id(), 2, 3);
    f.end(req[0].request_id());
    EXPECT_EQ(f.printed, range(1, 3));
    EXPECT_TRUE(f.lost.empty());
}

// MOVED: asked again under the table's current name; messages of the new
// topic in that replay are not this topic's.
TEST(TailRepair, MovedIsAskedUnderTheNewName) {
    Fixture f;
    f.live(change(1));
    f.live(heartbeat(3));
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    f.error(req[0].request_id(), v1::MOVED, "u");
    req = f.replays_after(0ms);
    ASSERT_EQ(req.size(), 1u);
    EXPECT_EQ(req[0].replay().table_name(), "u");
    EXPECT_EQ(req[0].replay().from_seq(), 2u);
    f.chunk(req[0].request_id(), 2, 3);
    f.chunk(req[0].request_id(), 4, 5, "u");
    f.end(req[0].request_id());
    EXPECT_EQ(f.printed, range(1, 3));
    EXPECT_TRUE(f.repair.idle());
}

TEST(TailRepair, ForbiddenIsReportedAtOnce) {
    Fixture f;
    f.live(change(1));
    f.live(change(3));
    auto req = f.replays();
    f.error(req[0].request_id(), v1::FORBIDDEN);
    ASSERT_EQ(f.lost.size(), 1u);
    EXPECT_EQ(f.lost[0].first, 2u);
    EXPECT_EQ(f.lost[0].last, 2u);
    EXPECT_EQ(f.printed, (std::vector<std::uint64_t>{1, 3}));
}

// Tables are independent: a gap in one does not hold the other back.
TEST(TailRepair, TablesAreIndependent) {
    Fixture f;
    f.live(change(1));
    f.live(change(3));
    f.live(change(7, "u"), "s.u");
    f.live(change(8, "u"), "s.u");
    EXPECT_EQ(f.printed, (std::vector<std::uint64_t>{1, 7, 8}));
    auto req = f.replays();
    ASSERT_EQ(req.size(), 1u);
    EXPECT_EQ(req[0].replay().table_name(), "t");
}

// Stopping with a gap open reports it: the output is incomplete.
TEST(TailRepair, GiveUpAllReportsOpenGaps) {
    Fixture f;
    f.live(change(1));
    f.live(change(3));
    f.live(change(6));
    (void)f.replays();
    f.repair.give_up_all("stopped", f.now);
    EXPECT_TRUE(f.replays().empty());
    ASSERT_EQ(f.lost.size(), 2u);
    EXPECT_EQ(f.lost[0].first, 2u);
    EXPECT_EQ(f.lost[0].last, 2u);
    EXPECT_EQ(f.lost[1].first, 4u);
    EXPECT_EQ(f.lost[1].last, 5u);
    EXPECT_EQ(f.printed, (std::vector<std::uint64_t>{1, 3, 6}));
    EXPECT_EQ(f.cancels, 1);
    EXPECT_TRUE(f.repair.idle());
}

// A replay that finds nothing durable while the table's stream still
// advances (the relay is publishing a large batch, durable at its end)
// loses no attempt.
TEST(TailRepair, NothingYetWhileTheStreamAdvancesIsNoFailedAttempt) {
    TailRepairOptions o;
    o.retry_delay = 100ms;
    o.max_attempts = 2;
    Fixture f(o);
    f.live(change(1));
    std::uint64_t seq = 3;
    for (int i = 0; i < 5; ++i) {
        f.live(change(seq++));
        auto req = f.replays();
        if (req.empty()) {
            req = f.replays_after(1s);
        }
        ASSERT_EQ(req.size(), 1u) << i;
        f.live(change(seq++));  // the stream moves on meanwhile
        f.begin(req[0].request_id(), 2, 1);
        f.end(req[0].request_id());
    }
    EXPECT_TRUE(f.lost.empty());
}

// A stream whose heartbeats stay below the position was reset: reported
// once (its messages are taken for duplicates), never printed twice.
TEST(TailRepair, ResetStreamIsReportedOnce) {
    Fixture f;
    for (std::uint64_t s = 1; s <= 10; ++s) f.live(change(s));
    f.live(heartbeat(2));
    f.live(heartbeat(2));
    EXPECT_TRUE(f.lost.empty());  // a relay restart looks like this for a moment
    f.live(heartbeat(3));
    ASSERT_EQ(f.lost.size(), 1u);
    EXPECT_EQ(f.lost[0].first, 1u);
    EXPECT_EQ(f.lost[0].last, 10u);
    f.live(change(4));
    f.live(heartbeat(4));
    EXPECT_EQ(f.lost.size(), 1u);
    EXPECT_EQ(f.printed, range(1, 10));
}

}  // namespace
}  // namespace tablepub
