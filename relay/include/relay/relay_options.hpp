#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relay/amqp_options.hpp"
#include "relay/audience.hpp"
#include "relay/relay_config.hpp"

namespace CLI {
class App;
}  // namespace CLI

namespace tablepub {

// Configuration of tablepub-relay; every flag also reads TABLEPUB_<FLAG>.
struct RelayOptions {
    std::string db;  // libpq conninfo or URI; empty: PG* environment only
    std::vector<std::string> publish{"tcp://127.0.0.1:5556"};
    std::chrono::milliseconds poll_interval{1000};
    // After any activity, keep polling every linger_poll for linger: a writer
    // sends at most one NOTIFY per tablepub.notify_interval (10 ms).
    std::chrono::milliseconds linger{100};
    std::chrono::milliseconds linger_poll{1};
    std::chrono::milliseconds batch_interval{100};  // most a batch waits after a large one
    std::chrono::milliseconds heartbeat_interval{5000};
    std::chrono::milliseconds maintain_interval{60000};
    std::chrono::milliseconds start_delay{300};  // after binding, before the first message
    // Snapshot/replay service (relay/sync), started when snapshot is not empty.
    std::vector<std::string> snapshot;
    int snapshot_chunk_rows = 1000;
    int snapshot_max_streams = 8;
    std::chrono::milliseconds snapshot_idle_timeout{30000};
    // Bounds of the snapshot service's memory (see SyncServerOptions).
    std::int64_t snapshot_chunk_bytes = 1 << 20;
    std::int64_t snapshot_max_reply_bytes = 256 << 20;
    int snapshot_max_credit = 16;
    int snapshot_max_streams_per_peer = 4;
    std::chrono::milliseconds snapshot_preempt_after{2000};
    int fetch_rows = 10000;
    std::int64_t fetch_bytes = 64LL << 20;        // change bytes per FETCH (and per read of large changes)
    std::int64_t max_change_bytes = 256LL << 20;  // larger changes are published as RESYNC
    int send_hwm = 100000;
    std::string log_level = "info";
    // Bus security (docs/operations.md, "The bus"). The relay's CURVE secret
    // key file, and the client public keys allowed on --publish/--snapshot.
    std::string curve_secret_key;
    std::string curve_allow;
    // Every endpoint group: those of --group, and "default" for --publish /
    // --snapshot (left out when --group is given and they are not).
    std::vector<AudienceSpec> groups;
    // Operations (relay_config.hpp): metrics endpoint, log format.
    MetricsOptions metrics;
    std::string log_format = "text";
    bool print_config = false;
    // The RabbitMQ sink (off unless --amqp is given).
    AmqpOptions amqp;
};

// Parsed options, or the exit code when the process should stop right away
// (--help, --version: 0; bad usage: 2, after one line on `err`).
using RelayParse = std::variant<RelayOptions, int>;

[[nodiscard]] RelayParse parse_relay_options(const std::vector<std::string>& args, std::ostream& out,
                                             std::ostream& err);

// "64kB", "256MB", "1GB", or a bare number of bytes (units of 1024).
[[nodiscard]] std::optional<std::int64_t> parse_bytes(std::string_view text);

// "250ms", "2s", "1min", "1h", or a bare number of milliseconds.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// Adds a duration option (parse_duration(), more than 0) with its
// environment variable; the help text gets the default appended.
void add_duration(CLI::App& app, const std::string& name, const std::string& env, std::chrono::milliseconds& target,
                  const std::string& help);

}  // namespace tablepub
