#include "relay/metrics.hpp"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <charconv>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace tablepub {

namespace {

const char* const ROLE_NAMES[] = {"connecting", "standby", "active"};
const char* const KIND_NAMES[SyncStats::KINDS] = {"snapshot", "replay"};
const char* const REFUSAL_NAMES[SyncStats::REFUSALS] = {"busy", "forbidden", "malformed"};

// Splits "HOST:PORT" ("[::1]:9187" for IPv6); throws ConfigError.
std::pair<std::string, int> split_endpoint(const std::string& endpoint) {
    const auto colon = endpoint.rfind(':');
    int port = -1;
    if (colon != std::string::npos) {
        const char* first = endpoint.data() + colon + 1;
        const char* last = endpoint.data() + endpoint.size();
        const auto [ptr, ec] = std::from_chars(first, last, port);
        if (ec != std::errc() || ptr != last || first == last) port = -1;
    }
    if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535) {
        throw ConfigError("--metrics \"" + endpoint + "\" is not HOST:PORT (e.g. 127.0.0.1:9187)");
    }
    std::string host = endpoint.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return {std::move(host), port};
}

}  // namespace

struct Metrics::Http {
    httplib::Server server;
    std::thread thread;
    std::atomic<bool> finished{false};
};

Metrics::Metrics(MetricsOptions options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      sync_(std::make_shared<SyncStats>()) {
    using namespace prometheus;
    auto& r = *registry_;
    BuildGauge()
        .Name("tablepub_relay_build_info")
        .Help("Version of the running relay (always 1)")
        .Register(r)
        .Add({{"version", TABLEPUB_VERSION}})
        .Set(1);
    lag_seconds_ = &BuildGauge()
                        .Name("tablepub_relay_lag_seconds")
                        .Help(
                            "Age of the oldest committed change the relay knows of and has not published: time "
                            "since the newest point up to which everything is published (0 when caught up)")
                        .Register(r)
                        .Add({});
    lag_transactions_ = &BuildGauge()
                             .Name("tablepub_relay_lag_transactions")
                             .Help(
                                 "Transaction ids the database assigned between the newest published point and "
                                 "the snapshot of the batch in hand (0 when caught up)")
                             .Register(r)
                             .Add({});
    auto& roles = BuildGauge()
                      .Name("tablepub_relay_role")
                      .Help(
                          "1 for the relay's current role: active (holds the relay lock), standby (connected, "
                          "waiting for the lock) or connecting")
                      .Register(r);
    for (int i = 0; i < 3; ++i) roles_[i] = &roles.Add({{"role", ROLE_NAMES[i]}});
    reconnects_ = &BuildCounter()
                       .Name("tablepub_database_reconnects_total")
                       .Help("Database sessions the relay opened again after losing one")
                       .Register(r)
                       .Add({});
    errors_ = &BuildCounter()
                   .Name("tablepub_relay_errors_total")
                   .Help("Errors the relay recovered from, by kind")
                   .Register(r);
    for (const char* kind : {"connection_lost", "database", "maintain"}) errors_->Add({{"kind", kind}});
    batches_ =
        &BuildCounter().Name("tablepub_batches_total").Help("Batches published and marked done").Register(r).Add({});
    batch_seconds_ = &BuildHistogram()
                          .Name("tablepub_batch_duration_seconds")
                          .Help("Time to read and publish one batch")
                          .Register(r)
                          .Add({}, Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
    messages_ = &BuildCounter()
                     .Name("tablepub_messages_published_total")
                     .Help(
                         "Messages published per table (changes, SCHEMA, RESYNC; tables beyond "
                         "--metrics-max-tables count as table=\"other\")")
                     .Register(r);
    transactions_ = &BuildCounter()
                         .Name("tablepub_transactions_published_total")
                         .Help("Transactions published per table (each transaction once per table it changed)")
                         .Register(r);
    heartbeats_ = &BuildCounter()
                       .Name("tablepub_heartbeat_rounds_total")
                       .Help("Rounds of heartbeats sent (one message per table each)")
                       .Register(r)
                       .Add({});
    maintain_ = &BuildCounter()
                     .Name("tablepub_maintain_runs_total")
                     .Help("Outbox maintenance runs (rotation, truncation, old batches), by result")
                     .Register(r);
    for (const char* result : {"ok", "failed"}) maintain_->Add({{"result", result}});
    outbox_rows_ = &BuildGauge()
                        .Name("tablepub_outbox_rows")
                        .Help("Rows in each outbox partition (statistics collector's estimate)")
                        .Register(r);
    outbox_bytes_ = &BuildGauge()
                         .Name("tablepub_outbox_bytes")
                         .Help("Size of each outbox partition with its index and TOAST")
                         .Register(r);
    sync_active_ =
        &BuildGauge().Name("tablepub_sync_streams_active").Help("Snapshot and replay streams running").Register(r);
    sync_served_ = &BuildCounter()
                        .Name("tablepub_sync_streams_served_total")
                        .Help("Snapshot and replay streams that sent their last chunk")
                        .Register(r);
    sync_failed_ = &BuildCounter()
                        .Name("tablepub_sync_streams_failed_total")
                        .Help("Snapshot and replay streams that ended early (error reply, cancel, client gone)")
                        .Register(r);
    sync_bytes_ =
        &BuildCounter().Name("tablepub_sync_bytes_total").Help("Bytes of snapshot and replay replies sent").Register(r);
    for (const char* kind : KIND_NAMES) {
        sync_active_->Add({{"kind", kind}});
        sync_served_->Add({{"kind", kind}});
        sync_failed_->Add({{"kind", kind}});
        sync_bytes_->Add({{"kind", kind}});
    }
    sync_refused_ = &BuildCounter()
                         .Name("tablepub_sync_requests_refused_total")
                         .Help("Snapshot and replay requests refused, by reason")
                         .Register(r);
    for (const char* reason : REFUSAL_NAMES) sync_refused_->Add({{"reason", reason}});
    set_role(RelayRole::connecting);
    published_as_of_.store(clock::now().time_since_epoch().count());

    if (options_.endpoint.empty()) return;
    const auto [host, port] = split_endpoint(options_.endpoint);
    http_ = std::make_unique<Http>();
    auto& server = http_->server;
    // Scrapes are rare and cheap: two threads are plenty.
    server.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // httplib's default also sets SO_REUSEPORT, which would let a second
    // relay on this host share the port and answer half the scrapes.
    server.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/healthz",
               [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
        const auto [ok, why] = ready();
        res.status = ok ? 200 : 503;
        res.set_content(why + "\n", "text/plain");
    });
    if (port == 0) {
        port_ = server.bind_to_any_port(host);
    } else if (server.bind_to_port(host, port)) {
        port_ = port;
    }
    if (port_ <= 0) {
        throw ConfigError("cannot listen for metrics on " + options_.endpoint + " (address in use or not local?)");
    }
    http_->thread = std::thread([http = http_.get()] {
        http->server.listen_after_bind();
        http->finished = true;
    });
    // httplib's stop() does nothing before the listening loop runs: wait
    // for it, so that the destructor can always end the thread.
    while (!http_->server.is_running() && !http_->finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    spdlog::info("metrics on http://{}:{}/metrics (health: /healthz, /readyz)", host, port_);
}

Metrics::~Metrics() {
    if (http_) {
        http_->server.stop();
        if (http_->thread.joinable()) http_->thread.join();
    }
}

void Metrics::set_role(RelayRole role) {
    role_.store(static_cast<int>(role));
    for (int i = 0; i < 3; ++i) roles_[i]->Set(i == static_cast<int>(role) ? 1 : 0);
}

void Metrics::reconnect() { reconnects_->Increment(); }

void Metrics::error(std::string_view kind) { errors_->Add({{"kind", std::string(kind)}}).Increment(); }

void Metrics::published_as_of(clock::time_point as_of) { published_as_of_.store(as_of.time_since_epoch().count()); }

void Metrics::batch_in_hand(clock::time_point taken, std::uint64_t xids) {
    in_hand_taken_ = taken;
    xids_behind_.store(xids);
    pending_.store(true);
}

void Metrics::caught_up(clock::time_point as_of) {
    published_as_of(as_of);
    pending_.store(false);
    xids_behind_.store(0);
}

void Metrics::batch_done(clock::duration took, const std::vector<StreamUpdate>& updates) {
    caught_up(in_hand_taken_);
    batches_->Increment();
    batch_seconds_->Observe(std::chrono::duration<double>(took).count());
    for (const auto& u : updates) {
        if (u.first_seq == 0) continue;
        const auto table = u.state.schema_name + "." + u.state.table_name;
        table_counter(*messages_, table).Increment(static_cast<double>(u.state.last_seq - u.first_seq + 1));
        if (u.transactions > 0) table_counter(*transactions_, table).Increment(static_cast<double>(u.transactions));
    }
}

prometheus::Counter& Metrics::table_counter(prometheus::Family<prometheus::Counter>& family, const std::string& table) {
    auto& series = table_series_[&family];
    if (const auto it = series.find(table); it != series.end()) return *it->second;
    // The cardinality guard: the first max_table_labels tables get a label
    // of their own, every later one counts as "other".
    auto [lab, fresh] = labelled_.try_emplace(table, false);
    if (fresh && tables_labelled_ < options_.max_table_labels) {
        lab->second = true;
        ++tables_labelled_;
    }
    auto& counter = family.Add({{"table", lab->second ? table : std::string("other")}});
    series.emplace(table, &counter);
    return counter;
}

void Metrics::heartbeat() { heartbeats_->Increment(); }

void Metrics::maintained(bool ok) {
    maintain_->Add({{"result", ok ? "ok" : "failed"}}).Increment();
    if (!ok) error("maintain");
}

void Metrics::outbox(const std::vector<OutboxPartition>& partitions) {
    for (const auto& p : partitions) {
        outbox_rows_->Add({{"partition", p.name}}).Set(p.rows);
        outbox_bytes_->Add({{"partition", p.name}}).Set(p.bytes);
    }
}

double Metrics::lag_seconds() const noexcept {
    if (!pending_.load()) return 0;
    const auto as_of = clock::time_point(clock::duration(published_as_of_.load()));
    return std::max(0.0, std::chrono::duration<double>(clock::now() - as_of).count());
}

void Metrics::refresh() {
    lag_seconds_->Set(lag_seconds());
    lag_transactions_->Set(pending_.load() ? static_cast<double>(xids_behind_.load()) : 0);
    // The snapshot service's counters live in SyncStats (its threads must
    // not depend on the metrics library); add what they gained since the
    // last scrape.
    const auto copy = [](std::atomic<std::uint64_t>& from, std::uint64_t& seen, prometheus::Counter& to) {
        const auto now = from.load(std::memory_order_relaxed);
        if (now > seen) to.Increment(static_cast<double>(now - seen));
        seen = now;
    };
    for (std::size_t k = 0; k < SyncStats::KINDS; ++k) {
        const auto started = sync_->started[k].load(std::memory_order_relaxed);
        copy(sync_->served[k], sync_seen_[0][k], sync_served_->Add({{"kind", KIND_NAMES[k]}}));
        copy(sync_->failed[k], sync_seen_[1][k], sync_failed_->Add({{"kind", KIND_NAMES[k]}}));
        copy(sync_->bytes[k], sync_seen_[2][k], sync_bytes_->Add({{"kind", KIND_NAMES[k]}}));
        const auto ended = sync_seen_[0][k] + sync_seen_[1][k];
        sync_active_->Add({{"kind", KIND_NAMES[k]}}).Set(started > ended ? static_cast<double>(started - ended) : 0);
    }
    for (std::size_t r = 0; r < SyncStats::REFUSALS; ++r) {
        copy(sync_->refused[r], refused_seen_[r], sync_refused_->Add({{"reason", REFUSAL_NAMES[r]}}));
    }
}

std::string Metrics::render() {
    std::lock_guard lock(refresh_mutex_);
    refresh();
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_->Collect());
    return out.str();
}

std::pair<bool, std::string> Metrics::ready() const {
    switch (static_cast<RelayRole>(role_.load())) {
        case RelayRole::standby: return {true, "standby: connected, waiting for the relay lock"};
        case RelayRole::active: {
            const double lag = lag_seconds();
            const double limit = std::chrono::duration<double>(options_.ready_lag).count();
            if (lag > limit)
                return {false, "active, " + std::to_string(lag) + " s behind (more than --metrics-ready-lag)"};
            return {true, "active, " + std::to_string(lag) + " s behind"};
        }
        case RelayRole::connecting: break;
    }
    return {false, "connecting to the database"};
}

}  // namespace tablepub
