// tablepub-relay: drains the tablepub outbox and publishes it on ZeroMQ.
#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>

#include "tablepub/error.hpp"
#include "tablepub/logging.hpp"
#include "tablepub/relay.hpp"
#include "tablepub/sync_server.hpp"

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const auto parsed = tablepub::parse_relay_options(args, std::cout, std::cerr);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const auto& options = std::get<tablepub::RelayOptions>(parsed);
    try {
        tablepub::setup_logging(options.log_level);
        tablepub::Relay::install_signal_handlers();
        // The snapshot service runs in its own thread with its own sessions.
        zmq::context_t sync_ctx(1);
        std::unique_ptr<tablepub::SyncServer> sync;
        if (!options.snapshot.empty()) {
            tablepub::SyncServerOptions sync_options;
            sync_options.conninfo = options.db;
            sync_options.endpoints = options.snapshot;
            sync_options.chunk_rows = static_cast<std::uint32_t>(options.snapshot_chunk_rows);
            sync_options.max_streams = static_cast<std::size_t>(options.snapshot_max_streams);
            sync_options.idle_timeout = options.snapshot_idle_timeout;
            sync_options.max_change_bytes = options.max_change_bytes;
            sync_options.chunk_bytes = static_cast<std::size_t>(options.snapshot_chunk_bytes);
            sync_options.max_reply_bytes = static_cast<std::size_t>(options.snapshot_max_reply_bytes);
            sync_options.max_credit = static_cast<std::uint32_t>(options.snapshot_max_credit);
            sync_options.max_streams_per_peer = static_cast<std::size_t>(options.snapshot_max_streams_per_peer);
            sync_options.preempt_after = options.snapshot_preempt_after;
            sync = std::make_unique<tablepub::SyncServer>(sync_ctx, sync_options);
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
