// tablepub-relay: drains the tablepub outbox and publishes it on ZeroMQ.
#include <iostream>
#include <map>
#include <memory>
#include <mutex>

#include <spdlog/spdlog.h>

#include "common/bus_security.hpp"
#include "common/error.hpp"
#include "common/log_limiter.hpp"
#include "common/logging.hpp"
#include "relay/audience.hpp"
#include "relay/metrics.hpp"
#include "relay/relay.hpp"
#include "relay/systemd_notify.hpp"
#include "sync/sync_server.hpp"

namespace {

// The snapshot service's check: a request is answered only for tables the
// requesting connection's group (its ZAP User-Id) may read. The answer is
// decided from the configuration alone, before any database lookup, so a
// refusal says nothing about whether the table exists.
auto make_authorizer(const std::vector<tablepub::Audience>& audiences) {
    auto filters = std::make_shared<std::map<std::string, tablepub::TableFilter>>();
    for (const auto& a : audiences) filters->emplace(a.name, a.tables);
    auto limiter = std::make_shared<tablepub::LogLimiter>();
    auto mutex = std::make_shared<std::mutex>();
    return [filters, limiter, mutex](const std::string& user, const std::string& schema,
                                     const std::string& table) -> std::optional<std::string> {
        const auto it = filters->find(user);
        if (it != filters->end() && it->second.allows(schema, table)) return std::nullopt;
        const std::string name = "\"" + schema + "\".\"" + table + "\"";
        std::lock_guard lock(*mutex);
        if (const auto suppressed = limiter->allow(user + '\n' + schema + '\n' + table)) {
            spdlog::info("refused a request for table {} from group \"{}\": not among its tables{}", name, user,
                         *suppressed == 0 ? "" : " (" + std::to_string(*suppressed) + " other refusals not logged)");
        }
        return "table " + name + " is not readable by this client's group";
    };
}

// The same decision without logging: which tables a group's replay of the
// transactions lists.
auto make_table_filter(const std::vector<tablepub::Audience>& audiences) {
    auto filters = std::make_shared<std::map<std::string, tablepub::TableFilter>>();
    for (const auto& a : audiences) filters->emplace(a.name, a.tables);
    return [filters](const std::string& user, const std::string& schema, const std::string& table) {
        const auto it = filters->find(user);
        return it != filters->end() && it->second.allows(schema, table);
    };
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto parsed = tablepub::parse_relay_options(args, std::cout, std::cerr);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const auto& options = std::get<tablepub::RelayOptions>(parsed);
    try {
        tablepub::setup_logging(options.log_level, options.log_format);
        // Every key file is read before anything is bound: a relay told to
        // use CURVE whose keys are not right does not start.
        auto audiences = tablepub::load_audiences(options.groups, options.curve_secret_key);
        const bool restricted = tablepub::audiences_restricted(audiences);
        tablepub::Relay::install_signal_handlers();
        // Listening before the database is reached: /healthz answers while
        // the relay connects or stands by.
        std::unique_ptr<tablepub::Metrics> metrics;
        if (!options.metrics.endpoint.empty()) metrics = std::make_unique<tablepub::Metrics>(options.metrics);
        // The snapshot service runs in its own thread with its own sessions
        // and its own ZeroMQ context, hence its own ZAP handler, declared
        // before the server so that it outlives the ROUTER socket.
        zmq::context_t sync_ctx(1);
        std::unique_ptr<tablepub::ZapHandler> sync_zap;
        std::unique_ptr<tablepub::SyncServer> sync;
        tablepub::SyncServerOptions sync_options;
        for (const auto& a : audiences) {
            if (a.snapshot.empty()) continue;
            tablepub::EndpointSecurity security;
            if (restricted) security.zap_domain = a.name;
            if (a.curve) security.curve_secret_key = a.secret_key;
            sync_options.secured_endpoints.push_back({security, a.snapshot});
        }
        if (!sync_options.secured_endpoints.empty()) {
            sync_options.conninfo = options.db;
            sync_options.chunk_rows = static_cast<std::uint32_t>(options.snapshot_chunk_rows);
            sync_options.max_streams = static_cast<std::size_t>(options.snapshot_max_streams);
            sync_options.idle_timeout = options.snapshot_idle_timeout;
            sync_options.max_change_bytes = options.max_change_bytes;
            sync_options.chunk_bytes = static_cast<std::size_t>(options.snapshot_chunk_bytes);
            sync_options.max_reply_bytes = static_cast<std::size_t>(options.snapshot_max_reply_bytes);
            sync_options.max_credit = static_cast<std::uint32_t>(options.snapshot_max_credit);
            sync_options.max_streams_per_peer = static_cast<std::size_t>(options.snapshot_max_streams_per_peer);
            sync_options.preempt_after = options.snapshot_preempt_after;
            if (metrics) sync_options.stats = metrics->sync_stats();
            if (restricted) {
                sync_zap = std::make_unique<tablepub::ZapHandler>(sync_ctx, tablepub::zap_domains(audiences));
                sync_options.authorize = make_authorizer(audiences);
                sync_options.may_read = make_table_filter(audiences);
                sync_options.on_bound = [&sync_zap](zmq::socket_t& router) { sync_zap->watch(router, "snapshot"); };
            } else {
                sync_options.group = audiences.front().name;  // the only one
            }
            sync = std::make_unique<tablepub::SyncServer>(sync_ctx, sync_options);
            sync->start();
            for (const auto& a : audiences) {
                for (const auto& ep : a.snapshot) {
                    spdlog::info("snapshot service on {} (group \"{}\", {}, {})", ep, a.name,
                                 a.curve ? "CURVE, " + std::to_string(a.allowed.size()) + " client keys" : "plain",
                                 a.tables.describe());
                }
            }
        }
        tablepub::Relay relay(options, std::move(audiences));
        tablepub::RelayObserver no_metrics;
        tablepub::SystemdNotifier notifier(metrics ? *metrics : no_metrics);
        relay.set_observer(notifier);
        const int rc = relay.run();
        tablepub::SystemdNotifier::stopping();
        return rc;
    } catch (const tablepub::ConfigError& e) {
        std::cerr << "tablepub-relay: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", tablepub::describe(e));
        return 1;
    }
}
