// Prometheus metrics and health endpoints of tablepub-relay (--metrics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "relay/relay_config.hpp"
#include "relay/relay_observer.hpp"
#include "relay/sync_stats.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace tablepub {

// Holds the relay's metrics and serves them over HTTP in a thread of its own
// (cpp-httplib): /metrics (Prometheus text format, prometheus-cpp's
// registry and serializer), /healthz and /readyz. The drain updates it once
// per batch, never per message; counters and gauges are lock-free atomics,
// the histogram and the per-table series (looked up in a map the relay
// thread alone touches) cost one mutex per batch.
class Metrics final : public RelayObserver {
public:
    // Listens on options.endpoint; throws ConfigError when it cannot.
    explicit Metrics(MetricsOptions options);
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;
    ~Metrics();

    // The port listened on (useful with port 0).
    [[nodiscard]] int port() const noexcept { return port_; }

    // RelayObserver. Lag (docs/operations.md, "Monitoring"): the time since
    // the newest point up to which everything committed is published, while
    // a batch is in hand; 0 once the relay finds nothing more.
    void set_role(RelayRole role) override;
    void reconnect() override;
    void error(std::string_view kind) override;
    void published_as_of(clock::time_point as_of) override;
    void batch_in_hand(clock::time_point taken, std::uint64_t xids) override;
    void caught_up(clock::time_point as_of) override;
    void batch_done(clock::duration took, const std::vector<StreamUpdate>& updates) override;
    void heartbeat() override;
    void maintained(bool ok) override;
    [[nodiscard]] std::chrono::milliseconds outbox_interval() const override { return options_.outbox_interval; }
    void outbox(const std::vector<OutboxPartition>& partitions) override;

    // Counters the snapshot service updates (its options take this).
    [[nodiscard]] std::shared_ptr<SyncStats> sync_stats() const noexcept { return sync_; }

    // The body of /metrics.
    [[nodiscard]] std::string render();
    // /readyz: ready, and why not.
    [[nodiscard]] std::pair<bool, std::string> ready() const;
    [[nodiscard]] double lag_seconds() const noexcept;

private:
    struct Http;
    prometheus::Counter& table_counter(prometheus::Family<prometheus::Counter>& family, const std::string& table);
    // Copies the values kept outside the registry into it, before a scrape.
    void refresh();

    MetricsOptions options_;
    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<SyncStats> sync_;

    std::atomic<int> role_{0};
    std::atomic<bool> pending_{false};            // a batch is in hand
    std::atomic<clock::rep> published_as_of_{0};  // steady clock ticks
    std::atomic<std::uint64_t> xids_behind_{0};
    clock::time_point in_hand_taken_{};  // relay thread only

    prometheus::Gauge* lag_seconds_;
    prometheus::Gauge* lag_transactions_;
    prometheus::Gauge* roles_[3];
    prometheus::Gauge* active_;
    prometheus::Gauge* standby_;
    prometheus::Counter* reconnects_;
    prometheus::Family<prometheus::Counter>* errors_;
    prometheus::Counter* batches_;
    prometheus::Histogram* batch_seconds_;
    prometheus::Family<prometheus::Counter>* messages_;
    prometheus::Family<prometheus::Counter>* transactions_;
    prometheus::Counter* heartbeats_;
    prometheus::Family<prometheus::Counter>* maintain_;
    prometheus::Family<prometheus::Gauge>* outbox_rows_;
    prometheus::Family<prometheus::Gauge>* outbox_bytes_;
    prometheus::Family<prometheus::Gauge>* sync_active_;
    prometheus::Family<prometheus::Counter>* sync_served_;
    prometheus::Family<prometheus::Counter>* sync_failed_;
    prometheus::Family<prometheus::Counter>* sync_refused_;
    prometheus::Family<prometheus::Counter>* sync_bytes_;

    // Per-table series, by family and table label (relay thread only).
    std::unordered_map<const void*, std::unordered_map<std::string, prometheus::Counter*>> table_series_;
    std::size_t tables_labelled_ = 0;
    std::unordered_map<std::string, bool> labelled_;  // table -> has its own label

    std::mutex refresh_mutex_;                           // scrapes may run concurrently
    std::uint64_t sync_seen_[3][SyncStats::KINDS] = {};  // served, failed, bytes
    std::uint64_t refused_seen_[SyncStats::REFUSALS] = {};

    int port_ = 0;
    std::unique_ptr<Http> http_;
};

}  // namespace tablepub
