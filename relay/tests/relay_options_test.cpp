#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "relay/relay_options.hpp"
#include "tail/tail_options.hpp"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

class OptionsTest : public ::testing::Test {
protected:
    void TearDown() override {
        for (const char* v :
             {"TABLEPUB_DB", "TABLEPUB_PUBLISH", "TABLEPUB_POLL_INTERVAL", "TABLEPUB_FETCH_ROWS", "TABLEPUB_TABLE",
              "TABLEPUB_GROUP", "TABLEPUB_CURVE_SECRET_KEY", "TABLEPUB_CURVE_ALLOW"}) {
            ::unsetenv(v);
        }
    }
    RelayParse parse(std::vector<std::string> args) { return parse_relay_options(args, out, err); }
    std::ostringstream out, err;
};

TEST_F(OptionsTest, Defaults) {
    const auto r = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r));
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.db, "");
    EXPECT_EQ(o.publish, std::vector<std::string>{"tcp://127.0.0.1:5556"});
    EXPECT_EQ(o.poll_interval, 1000ms);
    EXPECT_EQ(o.heartbeat_interval, 5000ms);
    EXPECT_EQ(o.fetch_rows, 10000);
    EXPECT_EQ(o.log_level, "info");
}

TEST_F(OptionsTest, FlagsAndRepeatedPublish) {
    const auto r = parse({"--db", "postgresql:///nova", "--publish", "tcp://*:1", "--publish", "ipc:///tmp/x",
                          "--poll-interval", "250ms", "--heartbeat-interval=2s", "--fetch-rows", "500",
                          "--maintain-interval", "1min", "--log-level", "debug"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.db, "postgresql:///nova");
    EXPECT_EQ(o.publish, (std::vector<std::string>{"tcp://*:1", "ipc:///tmp/x"}));
    EXPECT_EQ(o.poll_interval, 250ms);
    EXPECT_EQ(o.heartbeat_interval, 2000ms);
    EXPECT_EQ(o.maintain_interval, 60000ms);
    EXPECT_EQ(o.fetch_rows, 500);
    EXPECT_EQ(o.log_level, "debug");
}

TEST_F(OptionsTest, EnvironmentVariables) {
    ::setenv("TABLEPUB_DB", "dbname=x", 1);
    ::setenv("TABLEPUB_PUBLISH", "tcp://*:1,tcp://*:2", 1);
    ::setenv("TABLEPUB_POLL_INTERVAL", "3s", 1);
    ::setenv("TABLEPUB_FETCH_ROWS", "77", 1);
    const auto r = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.db, "dbname=x");
    EXPECT_EQ(o.publish, (std::vector<std::string>{"tcp://*:1", "tcp://*:2"}));
    EXPECT_EQ(o.poll_interval, 3000ms);
    EXPECT_EQ(o.fetch_rows, 77);
    // a flag beats its environment variable
    const auto r2 = parse({"--fetch-rows", "5"});
    EXPECT_EQ(std::get<RelayOptions>(r2).fetch_rows, 5);
}

TEST_F(OptionsTest, BadUsageIsOneLineAndExitTwo) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"--bogus"},
                                                                  {"--fetch-rows", "0"},
                                                                  {"--fetch-rows", "many"},
                                                                  {"--poll-interval", "soon"},
                                                                  {"--poll-interval", "0"},
                                                                  {"--log-level", "loud"},
                                                                  {"stray"}}) {
        err.str("");
        const auto r = parse(args);
        ASSERT_TRUE(std::holds_alternative<int>(r)) << args[0];
        EXPECT_EQ(std::get<int>(r), 2);
        const auto msg = err.str();
        EXPECT_EQ(msg.rfind("tablepub-relay: ", 0), 0u) << msg;
        EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 1) << msg;
    }
}

TEST_F(OptionsTest, HelpAndVersionExitZero) {
    auto r = parse({"--help"});
    ASSERT_TRUE(std::holds_alternative<int>(r));
    EXPECT_EQ(std::get<int>(r), 0);
    EXPECT_NE(out.str().find("--publish"), std::string::npos);
    EXPECT_NE(out.str().find("TABLEPUB_DB"), std::string::npos);
    out.str("");
    r = parse({"--version"});
    EXPECT_EQ(std::get<int>(r), 0);
    EXPECT_NE(out.str().find(TABLEPUB_VERSION), std::string::npos);
}

TEST_F(OptionsTest, SnapshotServiceAndLinger) {
    const auto off = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(off));
    EXPECT_TRUE(std::get<RelayOptions>(off).snapshot.empty());
    EXPECT_EQ(std::get<RelayOptions>(off).linger, 100ms);
    EXPECT_EQ(std::get<RelayOptions>(off).batch_interval, 100ms);

    const auto r = parse({"--snapshot", "tcp://*:2", "--snapshot", "ipc:///tmp/s", "--snapshot-chunk-rows", "50",
                          "--snapshot-max-streams", "3", "--snapshot-idle-timeout", "5s", "--linger", "20ms",
                          "--linger-poll", "2ms", "--batch-interval", "1ms"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.snapshot, (std::vector<std::string>{"tcp://*:2", "ipc:///tmp/s"}));
    EXPECT_EQ(o.snapshot_chunk_rows, 50);
    EXPECT_EQ(o.snapshot_max_streams, 3);
    EXPECT_EQ(o.snapshot_idle_timeout, 5000ms);
    EXPECT_EQ(o.linger, 20ms);
    EXPECT_EQ(o.linger_poll, 2ms);
    EXPECT_EQ(o.batch_interval, 1ms);

    const auto bad = parse({"--snapshot-chunk-rows", "0"});
    ASSERT_TRUE(std::holds_alternative<int>(bad));
    EXPECT_EQ(std::get<int>(bad), 2);
}

TEST_F(OptionsTest, SnapshotServiceBounds) {
    const auto def = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(def));
    const auto& d = std::get<RelayOptions>(def);
    EXPECT_EQ(d.snapshot_chunk_bytes, 1 << 20);
    EXPECT_EQ(d.snapshot_max_reply_bytes, 256 << 20);
    EXPECT_EQ(d.snapshot_max_credit, 16);
    EXPECT_EQ(d.snapshot_max_streams_per_peer, 4);
    EXPECT_EQ(d.snapshot_preempt_after, 2000ms);

    const auto r =
        parse({"--snapshot-chunk-bytes", "65536", "--snapshot-max-reply-bytes", "1048576", "--snapshot-max-credit", "4",
               "--snapshot-max-streams-per-peer", "1", "--snapshot-preempt-after", "500ms"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& o = std::get<RelayOptions>(r);
    EXPECT_EQ(o.snapshot_chunk_bytes, 65536);
    EXPECT_EQ(o.snapshot_max_reply_bytes, 1048576);
    EXPECT_EQ(o.snapshot_max_credit, 4);
    EXPECT_EQ(o.snapshot_max_streams_per_peer, 1);
    EXPECT_EQ(o.snapshot_preempt_after, 500ms);

    for (const auto& bad : std::vector<std::vector<std::string>>{
             {"--snapshot-chunk-bytes", "100"},
             {"--snapshot-max-credit", "0"},
             {"--snapshot-max-streams-per-peer", "0"},
             {"--snapshot-chunk-bytes", "2097152", "--snapshot-max-reply-bytes", "1048576"}}) {
        const auto p = parse(bad);
        ASSERT_TRUE(std::holds_alternative<int>(p)) << bad[0];
        EXPECT_EQ(std::get<int>(p), 2);
    }
}

TEST(Duration, Units) {
    EXPECT_EQ(parse_duration("250"), 250ms);
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("2s"), 2000ms);
    EXPECT_EQ(parse_duration("3min"), 180000ms);
    EXPECT_EQ(parse_duration("1h"), 3600000ms);
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("-1s"));
    EXPECT_FALSE(parse_duration("1 s"));
    EXPECT_FALSE(parse_duration("1d"));
}

TEST_F(OptionsTest, ByteLimits) {
    auto r = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r));
    EXPECT_EQ(std::get<RelayOptions>(r).fetch_bytes, 64LL << 20);
    EXPECT_EQ(std::get<RelayOptions>(r).max_change_bytes, 256LL << 20);
    r = parse({"--fetch-bytes", "8MB", "--max-change-bytes", "1GB"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    EXPECT_EQ(std::get<RelayOptions>(r).fetch_bytes, 8LL << 20);
    EXPECT_EQ(std::get<RelayOptions>(r).max_change_bytes, 1LL << 30);
    // Over a protobuf message's reach, or below what any row needs: refused.
    EXPECT_EQ(std::get<int>(parse({"--max-change-bytes", "2GB"})), 2);
    EXPECT_NE(err.str().find("--max-change-bytes"), std::string::npos) << err.str();
    EXPECT_EQ(std::get<int>(parse({"--fetch-bytes", "100kB"})), 2);
    EXPECT_EQ(std::get<int>(parse({"--fetch-bytes", "64 MB"})), 2);
}

TEST(Bytes, Units) {
    EXPECT_EQ(parse_bytes("100"), 100);
    EXPECT_EQ(parse_bytes("100B"), 100);
    EXPECT_EQ(parse_bytes("64kB"), 65536);
    EXPECT_EQ(parse_bytes("256MB"), 256LL << 20);
    EXPECT_EQ(parse_bytes("1GB"), 1LL << 30);
    EXPECT_FALSE(parse_bytes(""));
    EXPECT_FALSE(parse_bytes("-1MB"));
    EXPECT_FALSE(parse_bytes("1mb"));
    EXPECT_FALSE(parse_bytes("1TB"));
    EXPECT_FALSE(parse_bytes("99999999999999GB"));
}

TEST_F(OptionsTest, TailOptions) {
    auto r = parse_tail_options(
        {"--connect", "tcp://h:1", "--table", "public.t", "--table", "app.u", "--bytes", "hex", "--count", "3"}, out,
        err);
    ASSERT_TRUE(std::holds_alternative<TailOptions>(r)) << err.str();
    const auto& o = std::get<TailOptions>(r);
    EXPECT_EQ(o.connect, std::vector<std::string>{"tcp://h:1"});
    EXPECT_EQ(o.tables, (std::vector<std::string>{"public.t", "app.u"}));
    EXPECT_EQ(o.bytes, BytesFormat::hex);
    EXPECT_EQ(o.count, 3u);
    EXPECT_TRUE(topic_selected(o, "public.t"));
    EXPECT_FALSE(topic_selected(o, "public.t2"));  // prefix match on the wire, exact here
    EXPECT_FALSE(topic_selected(o, "public."));
    // Without --table every table, but not the transaction topic.
    TailOptions every;
    EXPECT_TRUE(topic_selected(every, "public.t"));
    EXPECT_FALSE(topic_selected(every, ".tx"));

    ::setenv("TABLEPUB_TABLE", "a.b", 1);
    r = parse_tail_options({}, out, err);
    EXPECT_EQ(std::get<TailOptions>(r).tables, std::vector<std::string>{"a.b"});
    ::unsetenv("TABLEPUB_TABLE");
    EXPECT_TRUE(topic_selected(TailOptions{}, "anything.at_all"));

    err.str("");
    r = parse_tail_options({"--table", "nodot"}, out, err);
    EXPECT_EQ(std::get<int>(r), 2);
    EXPECT_NE(err.str().find("schema.table"), std::string::npos);
    r = parse_tail_options({"--bytes", "octal"}, out, err);
    EXPECT_EQ(std::get<int>(r), 2);
}

// Without --group, --publish/--snapshot (and --curve-allow) are the group
// "default"; with --group they are opened only when given explicitly.
TEST_F(OptionsTest, EndpointGroups) {
    auto r = parse({"--curve-secret-key", "/k/relay.key_secret", "--curve-allow", "/k/clients"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    ASSERT_EQ(std::get<RelayOptions>(r).groups.size(), 1u);
    EXPECT_EQ(std::get<RelayOptions>(r).groups[0].name, "default");
    EXPECT_EQ(std::get<RelayOptions>(r).groups[0].allow_path, "/k/clients");
    EXPECT_EQ(std::get<RelayOptions>(r).curve_secret_key, "/k/relay.key_secret");

    r = parse({"--group", "a:pub=tcp://*:1,tables=public.t", "--group", "b:snap=tcp://*:2"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    const auto& groups = std::get<RelayOptions>(r).groups;
    ASSERT_EQ(groups.size(), 2u);  // no unasked-for default endpoint
    EXPECT_EQ(groups[0].name, "a");
    EXPECT_EQ(groups[1].snapshot, std::vector<std::string>{"tcp://*:2"});

    r = parse({"--group", "a:pub=tcp://*:1", "--publish", "ipc:///run/local"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    ASSERT_EQ(std::get<RelayOptions>(r).groups.size(), 2u);
    EXPECT_EQ(std::get<RelayOptions>(r).groups[0].publish, std::vector<std::string>{"ipc:///run/local"});

    ::setenv("TABLEPUB_PUBLISH", "ipc:///run/env", 1);  // given by the environment counts as given
    r = parse({"--group", "a:pub=tcp://*:1"});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    ASSERT_EQ(std::get<RelayOptions>(r).groups.size(), 2u);
    EXPECT_EQ(std::get<RelayOptions>(r).groups[0].publish, std::vector<std::string>{"ipc:///run/env"});
    ::unsetenv("TABLEPUB_PUBLISH");

    ::setenv("TABLEPUB_GROUP", "a:pub=tcp://*:1;b:pub=tcp://*:2,tables=s.*", 1);
    r = parse({});
    ASSERT_TRUE(std::holds_alternative<RelayOptions>(r)) << err.str();
    EXPECT_EQ(std::get<RelayOptions>(r).groups.size(), 2u);
    ::unsetenv("TABLEPUB_GROUP");

    EXPECT_EQ(std::get<int>(parse({"--group", "a:pub=tcp://*:1", "--curve-allow", "/k"})), 2);
    EXPECT_NE(err.str().find("--curve-allow applies to --publish/--snapshot"), std::string::npos) << err.str();
    EXPECT_EQ(std::get<int>(parse({"--group", "bad"})), 2);
}

}  // namespace
}  // namespace tablepub
