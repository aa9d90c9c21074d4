#include <gtest/gtest.h>

#include <httplib.h>

#include "common/error.hpp"
#include "relay/metrics.hpp"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

StreamUpdate update(const std::string& table, std::uint64_t first, std::uint64_t last, std::uint64_t txs) {
    StreamUpdate u;
    u.state.schema_name = "public";
    u.state.table_name = table;
    u.state.last_seq = last;
    u.first_seq = first;
    u.transactions = txs;
    return u;
}

bool has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(Metrics, CountsPerTableWithACardinalityGuard) {
    MetricsOptions o;
    o.max_table_labels = 2;
    Metrics m(o);
    m.batch_in_hand(Metrics::clock::now(), 5);
    m.batch_done(3ms, {update("a", 1, 10, 2), update("b", 1, 1, 1), update("c", 5, 6, 1)});
    m.batch_in_hand(Metrics::clock::now(), 1);
    m.batch_done(1ms, {update("a", 11, 11, 1), update("d", 1, 3, 3)});
    const auto text = m.render();
    EXPECT_TRUE(has(text, "tablepub_batches_total 2")) << text;
    EXPECT_TRUE(has(text, "tablepub_messages_published_total{table=\"public.a\"} 11")) << text;
    EXPECT_TRUE(has(text, "tablepub_messages_published_total{table=\"public.b\"} 1")) << text;
    EXPECT_TRUE(has(text, "tablepub_messages_published_total{table=\"other\"} 5")) << text;
    EXPECT_TRUE(has(text, "tablepub_transactions_published_total{table=\"public.a\"} 3")) << text;
    EXPECT_TRUE(has(text, "tablepub_transactions_published_total{table=\"other\"} 4")) << text;
    EXPECT_EQ(text.find("public.c"), std::string::npos);
    EXPECT_TRUE(has(text, "tablepub_batch_duration_seconds_count 2")) << text;
    EXPECT_TRUE(has(text, "tablepub_batch_duration_seconds_bucket{le=\"0.0025\"} 1")) << text;
}

TEST(Metrics, LagCountsFromThePublishedPointWhileABatchIsInHand) {
    Metrics m(MetricsOptions{});
    const auto now = Metrics::clock::now();
    EXPECT_EQ(m.lag_seconds(), 0);
    m.published_as_of(now - 100s);
    m.batch_in_hand(now, 42);
    EXPECT_GE(m.lag_seconds(), 100);
    EXPECT_LT(m.lag_seconds(), 200);
    EXPECT_TRUE(has(m.render(), "tablepub_relay_lag_transactions 42"));
    // Done: everything up to the batch's snapshot is published; nothing
    // else is known to wait.
    m.batch_done(1ms, {});
    EXPECT_EQ(m.lag_seconds(), 0);
    m.batch_in_hand(Metrics::clock::now(), 1);
    EXPECT_LT(m.lag_seconds(), 100);
    m.caught_up(Metrics::clock::now());
    EXPECT_EQ(m.lag_seconds(), 0);
    EXPECT_TRUE(has(m.render(), "tablepub_relay_lag_transactions 0"));
}

TEST(Metrics, ReadinessFollowsRoleAndLag) {
    MetricsOptions o;
    o.ready_lag = 10s;
    Metrics m(o);
    EXPECT_FALSE(m.ready().first);
    m.set_role(RelayRole::standby);
    EXPECT_TRUE(m.ready().first);
    m.set_role(RelayRole::active);
    EXPECT_TRUE(m.ready().first);
    m.published_as_of(Metrics::clock::now() - 60s);
    m.batch_in_hand(Metrics::clock::now(), 1);
    EXPECT_FALSE(m.ready().first) << m.ready().second;
    EXPECT_TRUE(has(m.render(), "tablepub_relay_role{role=\"active\"} 1"));
    EXPECT_TRUE(has(m.render(), "tablepub_relay_role{role=\"standby\"} 0"));
}

TEST(Metrics, SyncCountersAndOutbox) {
    Metrics m(MetricsOptions{});
    auto s = m.sync_stats();
    SyncStats::add(s->started[SyncStats::SNAPSHOT], 3);
    SyncStats::add(s->served[SyncStats::SNAPSHOT]);
    SyncStats::add(s->bytes[SyncStats::SNAPSHOT], 1000);
    SyncStats::add(s->refused[SyncStats::BUSY], 2);
    m.outbox({{"outbox_0", 12, 8192}, {"outbox_1", 0, 16384}});
    auto text = m.render();
    EXPECT_TRUE(has(text, "tablepub_sync_streams_active{kind=\"snapshot\"} 2")) << text;
    EXPECT_TRUE(has(text, "tablepub_sync_streams_served_total{kind=\"snapshot\"} 1")) << text;
    EXPECT_TRUE(has(text, "tablepub_sync_bytes_total{kind=\"snapshot\"} 1000")) << text;
    EXPECT_TRUE(has(text, "tablepub_sync_requests_refused_total{reason=\"busy\"} 2")) << text;
    EXPECT_TRUE(has(text, "tablepub_outbox_rows{partition=\"outbox_0\"} 12")) << text;
    EXPECT_TRUE(has(text, "tablepub_outbox_bytes{partition=\"outbox_1\"} 16384")) << text;
    // A second scrape adds only what happened since.
    SyncStats::add(s->failed[SyncStats::SNAPSHOT], 2);
    text = m.render();
    EXPECT_TRUE(has(text, "tablepub_sync_streams_served_total{kind=\"snapshot\"} 1")) << text;
    EXPECT_TRUE(has(text, "tablepub_sync_streams_failed_total{kind=\"snapshot\"} 2")) << text;
    EXPECT_TRUE(has(text, "tablepub_sync_streams_active{kind=\"snapshot\"} 0")) << text;
}

TEST(Metrics, ServesHttp) {
    MetricsOptions o;
    o.endpoint = "127.0.0.1:0";
    Metrics m(o);
    ASSERT_GT(m.port(), 0);
    httplib::Client c("127.0.0.1", m.port());
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("# TYPE tablepub_relay_lag_seconds gauge"), std::string::npos);
    r = c.Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = c.Get("/readyz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);  // still connecting
    m.set_role(RelayRole::standby);
    r = c.Get("/readyz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = c.Get("/nothing");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
}

TEST(Metrics, RefusesBadOrBusyEndpoints) {
    MetricsOptions o;
    for (const char* bad : {"9187", ":9187", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000"}) {
        o.endpoint = bad;
        EXPECT_THROW(Metrics{o}, ConfigError) << bad;
    }
    o.endpoint = "127.0.0.1:0";
    Metrics first(o);
    o.endpoint = "127.0.0.1:" + std::to_string(first.port());
    EXPECT_THROW(Metrics{o}, ConfigError);
}

}  // namespace
}  // namespace tablepub
