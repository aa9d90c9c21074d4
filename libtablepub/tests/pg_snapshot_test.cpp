#include <gtest/gtest.h>

#include "tablepub.pb.h"
#include "tablepub/pg_snapshot.hpp"

using tablepub::PgSnapshot;

// The worked example of docs/protocol.md: snapshot 100:110:102,105.
TEST(PgSnapshot, VisibilityRule) {
    auto s = PgSnapshot::parse("100:110:102,105");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->visible(1));
    EXPECT_TRUE(s->visible(99));
    EXPECT_TRUE(s->visible(100));  // committed between xmin and xmax, not in xip
    EXPECT_TRUE(s->visible(101));
    EXPECT_FALSE(s->visible(102));  // in progress when the snapshot was taken
    EXPECT_TRUE(s->visible(104));
    EXPECT_FALSE(s->visible(105));
    EXPECT_TRUE(s->visible(109));
    EXPECT_FALSE(s->visible(110));  // xmax: not yet started
    EXPECT_FALSE(s->visible(1000));
}

TEST(PgSnapshot, EmptyXip) {
    auto s = PgSnapshot::parse("5:5:");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->visible(4));
    EXPECT_FALSE(s->visible(5));
}

TEST(PgSnapshot, ParseRejectsMalformed) {
    for (const char* bad : {"", "1", "1:2", "x:2:", "3:2:", "1:5:7", "1:5:0", "1:5:2,", "1:5:2;3", "-1:5:", "1:5:2,,3"})
        EXPECT_FALSE(PgSnapshot::parse(bad)) << bad;
}

TEST(PgSnapshot, FromBeginSortsXip) {
    tablepub::v1::SnapshotBegin b;
    b.set_xmin(10);
    b.set_xmax(20);
    b.add_xip(15);
    b.add_xip(11);
    auto s = PgSnapshot::from(b);
    EXPECT_FALSE(s.visible(11));
    EXPECT_FALSE(s.visible(15));
    EXPECT_TRUE(s.visible(12));
}

TEST(PgSnapshot, LargeXid8) {
    // xid8 values past 2^32 (epoch > 0) compare as plain 64-bit numbers.
    auto s = PgSnapshot::parse("4294967396:4294967400:4294967397");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->visible(4294967296));
    EXPECT_FALSE(s->visible(4294967397));
    EXPECT_TRUE(s->visible(4294967398));
}
