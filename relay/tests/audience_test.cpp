#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/log_limiter.hpp"
#include "relay/audience.hpp"
#include "tablepub.pb.h"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

std::string message(const std::string& schema, const std::string& table) {
    v1::Message m;
    m.set_schema_name(schema);
    m.set_table_name(table);
    m.set_seq(1);
    return m.SerializeAsString();
}

TEST(AudienceTest, ParsesAGroup) {
    const auto g = parse_audience(
        "ext:pub=tcp://*:6556,tcp://*:6558,snap=tcp://*:6557,keys=/etc/k,tables=public.a,"
        "s.*,\"we.ird\".\"t,=\"\"x\"");
    EXPECT_EQ(g.name, "ext");
    EXPECT_EQ(g.publish, (std::vector<std::string>{"tcp://*:6556", "tcp://*:6558"}));
    EXPECT_EQ(g.snapshot, std::vector<std::string>{"tcp://*:6557"});
    EXPECT_EQ(g.allow_path, "/etc/k");
    EXPECT_TRUE(g.tables.allows("public", "a"));
    EXPECT_FALSE(g.tables.allows("public", "b"));
    EXPECT_TRUE(g.tables.allows("s", "anything"));
    EXPECT_TRUE(g.tables.allows("we.ird", "t,=\"x"));
    const auto all = parse_audience("local:pub=ipc:///run/t.sock");
    EXPECT_TRUE(all.tables.everything());
    EXPECT_TRUE(all.allow_path.empty());
}

TEST(AudienceTest, RefusesMalformedGroups) {
    for (const auto* bad : {"nocolon", ":pub=x", "default:pub=x", "a b:pub=x", "g:keys=/k", "g:pub=x,color=red",
                            "g:pub=x,keys=/a,keys=/b", "g:pub=x,tables=nodot", "g:pub=x,tables=a.b.c",
                            "g:pub=x,tables=\"open.t", "g:pub=x,secret=/s", "g:pub=x,keys=/k,/k2", "g:pub="}) {
        EXPECT_THROW((void)parse_audience(bad), ConfigError) << bad;
    }
}

TEST(AudienceTest, QuotedStarIsATable) {
    TableFilter f;
    f.add(*TableFilter::parse_name("s.\"*\""));
    EXPECT_TRUE(f.allows("s", "*"));
    EXPECT_FALSE(f.allows("s", "t"));
}

// A topic with several dots names one of several tables: the message's own
// names decide, so group A's "x"."y.z" never lets "x.y"."z" through.
TEST(AudienceTest, AmbiguousTopicsAreDecidedByTheMessage) {
    TableFilter f;
    f.add(*TableFilter::parse_name("x.\"y.z\""));
    EXPECT_TRUE(f.allows_message("x.y.z", message("x", "y.z")));
    EXPECT_FALSE(f.allows_message("x.y.z", message("x.y", "z")));
    EXPECT_FALSE(f.allows_message("x.y.z", "not a message"));
    // A message whose names do not make its topic is refused.
    EXPECT_FALSE(f.allows_message("x.y.z", message("x", "other")));
    TableFilter g;
    g.add(*TableFilter::parse_name("public.t"));
    EXPECT_TRUE(g.allows_message("public.t", ""));
    EXPECT_FALSE(g.allows_message("public.t2", ""));
    EXPECT_FALSE(g.allows_message("public", ""));
    EXPECT_TRUE(TableFilter().allows_message("anything", ""));
}

TEST(AudienceTest, LoadRulesFailClosed) {
    AudienceSpec s;
    s.name = "g";
    s.publish = {"inproc://x"};
    s.allow_path = "/nonexistent";
    // An allow-list needs a server key.
    EXPECT_THROW((void)load_audiences({s}, ""), ConfigError);
    // A server key needs an allow-list somewhere.
    AudienceSpec plain = s;
    plain.allow_path.clear();
    EXPECT_THROW((void)load_audiences({plain}, "/some/key"), ConfigError);
    EXPECT_THROW((void)load_audiences({plain, plain}, ""), ConfigError);  // defined twice
    const auto loaded = load_audiences({plain}, "");
    EXPECT_FALSE(audiences_restricted(loaded));
    auto filtered = plain;
    filtered.tables.add(*TableFilter::parse_name("public.t"));
    EXPECT_TRUE(audiences_restricted(load_audiences({filtered}, "")));
}

TEST(LogLimiterTest, OneLinePerKeyPerWindowAndABurstLimit) {
    LogLimiter l(60s, 3);
    const auto t0 = LogLimiter::Clock::now();
    EXPECT_EQ(l.allow("a", t0), 0u);
    EXPECT_FALSE(l.allow("a", t0 + 1s));
    EXPECT_FALSE(l.allow("a", t0 + 59s));
    EXPECT_EQ(l.allow("b", t0 + 59s), 2u);  // two suppressed since the last line
    EXPECT_EQ(l.allow("c", t0 + 59s), 0u);
    EXPECT_FALSE(l.allow("d", t0 + 59s));   // burst of 3 used up
    EXPECT_EQ(l.allow("a", t0 + 61s), 1u);  // a new window
    LogLimiter small(60s, 100, 2);
    EXPECT_TRUE(small.allow("x", t0));
    EXPECT_TRUE(small.allow("y", t0));
    EXPECT_TRUE(small.allow("z", t0));  // forgets keys instead of growing
}

}  // namespace
}  // namespace tablepub
