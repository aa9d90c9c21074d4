#include <gtest/gtest.h>

#include "tablepub.pb.h"
#include "tail/tail_gaps.hpp"

namespace tablepub {
namespace {

v1::Message change(std::uint64_t seq) {
    v1::Message m;
    m.set_seq(seq);
    m.mutable_change()->set_op(v1::INSERT);
    return m;
}

v1::Message heartbeat(std::uint64_t seq) {
    v1::Message m;
    m.set_seq(seq);
    m.mutable_heartbeat()->set_interval_ms(1000);
    return m;
}

TEST(TailGaps, ContiguousStreamsAndJoiningMidStreamHaveNoGap) {
    TailGaps g;
    EXPECT_FALSE(g.on_message("s.a", change(40)));  // joined at 40
    EXPECT_FALSE(g.on_message("s.a", change(41)));
    EXPECT_FALSE(g.on_message("s.b", heartbeat(7)));
    EXPECT_FALSE(g.on_message("s.b", change(8)));
    EXPECT_FALSE(g.on_message("s.a", heartbeat(41)));
    EXPECT_FALSE(g.on_message("s.b", heartbeat(8)));
    EXPECT_EQ(g.gaps(), 0u);
}

TEST(TailGaps, SeqJumpIsAGap) {
    TailGaps g;
    (void)g.on_message("s.a", change(1));
    const auto gap = g.on_message("s.a", change(5));
    ASSERT_TRUE(gap);
    EXPECT_EQ(gap->first, 2u);
    EXPECT_EQ(gap->last, 4u);
    EXPECT_EQ(describe(*gap), "table s.a: missed seq 2..4 (3 messages)");
    EXPECT_FALSE(g.on_message("s.a", change(6)));
    EXPECT_EQ(g.gaps(), 1u);
    EXPECT_EQ(g.missing(), 3u);
}

// The lost *last* message: only the heartbeat tells.
TEST(TailGaps, HeartbeatRevealsLostLastMessage) {
    TailGaps g;
    (void)g.on_message("s.a", change(3));
    const auto gap = g.on_message("s.a", heartbeat(4));
    ASSERT_TRUE(gap);
    EXPECT_EQ(describe(*gap), "table s.a: missed seq 4..4 (1 message)");
    EXPECT_FALSE(g.on_message("s.a", heartbeat(4)));  // counted once
    EXPECT_FALSE(g.on_message("s.a", change(5)));
}

// A relay restart republishes from its durable point: duplicates, no gap.
TEST(TailGaps, DuplicatesAfterRestartAreNoGap) {
    TailGaps g;
    for (std::uint64_t s = 1; s <= 10; ++s) (void)g.on_message("s.a", change(s));
    for (std::uint64_t s = 6; s <= 12; ++s) EXPECT_FALSE(g.on_message("s.a", change(s)));
    EXPECT_EQ(g.gaps(), 0u);
}

TEST(TailGaps, MovedHeartbeatSeqBelongsToTheNewTopic) {
    TailGaps g;
    (void)g.on_message("s.a", change(3));
    auto m = heartbeat(9);
    m.mutable_heartbeat()->set_moved_to_schema("s");
    m.mutable_heartbeat()->set_moved_to_table("b");
    EXPECT_FALSE(g.on_message("s.a", m));
    EXPECT_EQ(g.gaps(), 0u);
}

}  // namespace
}  // namespace tablepub
