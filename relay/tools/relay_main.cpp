// tablepub-relay: drains the tablepub outbox and publishes it on ZeroMQ.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include <spdlog/spdlog.h>

#include "tablepub/error.hpp"
#include "tablepub/logging.hpp"
#include "tablepub/relay.hpp"
#include "tablepub/sync_server.hpp"

namespace {

// Takes the snapshot service's flags out of the argument list (they belong to
// tablepub_sync, not to the relay's own options):
//   --snapshot ENDPOINT (repeatable, or TABLEPUB_SNAPSHOT), --snapshot-chunk-rows N,
//   --snapshot-max-streams N, --snapshot-idle-timeout-ms N
std::optional<tablepub::SyncServerOptions> take_snapshot_flags(std::vector<std::string>& args) {
    tablepub::SyncServerOptions o;
    std::vector<std::string> rest;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw tablepub::ConfigError(a + " needs a value");
            return args[++i];
        };
        if (a == "--snapshot")
            o.endpoints.push_back(value());
        else if (a == "--snapshot-chunk-rows")
            o.chunk_rows = static_cast<std::uint32_t>(std::stoul(value()));
        else if (a == "--snapshot-max-streams")
            o.max_streams = std::stoul(value());
        else if (a == "--snapshot-idle-timeout-ms")
            o.idle_timeout = std::chrono::milliseconds(std::stoul(value()));
        else
            rest.push_back(a);
    }
    args = std::move(rest);
    if (o.endpoints.empty())
        if (const char* env = std::getenv("TABLEPUB_SNAPSHOT"); env && *env) o.endpoints.push_back(env);
    if (o.endpoints.empty()) return std::nullopt;
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::optional<tablepub::SyncServerOptions> sync_options;
    try {
        sync_options = take_snapshot_flags(args);
    } catch (const std::exception& e) {
        std::cerr << "tablepub-relay: bad snapshot option: " << e.what() << "\n";
        return 2;
    }
    const auto parsed = tablepub::parse_relay_options(args, std::cout, std::cerr);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const auto& options = std::get<tablepub::RelayOptions>(parsed);
    try {
        tablepub::setup_logging(options.log_level);
        tablepub::Relay::install_signal_handlers();
        // The snapshot service runs in its own thread with its own sessions.
        zmq::context_t sync_ctx(1);
        std::unique_ptr<tablepub::SyncServer> sync;
        if (sync_options) {
            sync_options->conninfo = options.db;
            sync = std::make_unique<tablepub::SyncServer>(sync_ctx, *sync_options);
            sync->start();
        }
        tablepub::Relay relay(options);
        return relay.run();
    } catch (const tablepub::ConfigError& e) {
        std::cerr << "tablepub-relay: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        spdlog::critical("fatal: {}", e.what());
        return 1;
    }
}
