// The relay's operational options (docs/operations.md): --config,
// --print-config, --metrics*, --log-format. Kept apart from the data-path
// flags in relay_options.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tablepub {

struct RelayOptions;

// The metrics endpoint (relay/src/metrics.cpp).
struct MetricsOptions {
    std::string endpoint;                // HOST:PORT to listen on; empty: metrics off
    std::size_t max_table_labels = 100;  // tables with a label of their own; the rest count as "other"
    // /readyz answers 200 for an active relay whose lag is at most this.
    std::chrono::milliseconds ready_lag{30'000};
    // How often the active relay reads the outbox partitions' sizes.
    std::chrono::milliseconds outbox_interval{15'000};
};

// Adds --config FILE (TOML or INI; TABLEPUB_CONFIG), --print-config and the
// metrics and log-format flags. A flag beats its environment variable,
// which beats the file; an unknown key in the file is an error.
void add_ops_options(CLI::App& app, RelayOptions& options);

// The arguments with every TABLEPUB_<FLAG> variable that is set turned into
// a flag, unless the flag is given: CLI11 2.1 reads the config file before
// the environment, and so would let the file beat the variables.
[[nodiscard]] std::vector<std::string> with_environment(const CLI::App& app, const std::vector<std::string>& args);

// After parsing: when --print-config was given, writes the effective
// configuration as TOML (a password in --db masked) and returns true.
bool print_config_if_asked(const CLI::App& app, const RelayOptions& options, std::ostream& out);

// conninfo or URI with any password replaced by "********".
[[nodiscard]] std::string mask_password(const std::string& conninfo);

}  // namespace tablepub
