#pragma once

// tablepub-tail --snapshot / --mirror: follows tables through
// tablepub::Subscriber (snapshot, then deltas without duplicates or gaps).

#include <csignal>
#include <cstdint>
#include <iosfwd>
#include <vector>

#include <nlohmann/json.hpp>

#include "tail/tail_options.hpp"

namespace tablepub {

struct TableStatus;

// Flags set by signal handlers: stop, and write the mirror now.
struct TailSignals {
    volatile std::sig_atomic_t* stop = nullptr;
    volatile std::sig_atomic_t* dump = nullptr;
};

// The FILE.status object written next to the mirror.
[[nodiscard]] nlohmann::json tail_status_json(const std::vector<TableStatus>& tables, std::uint64_t dumps);

// Runs until a stop signal (or --count changes); writes the mirror on every
// dump signal and on exit. Returns the process exit status.
int run_tail_subscriber(const TailOptions& options, TailSignals signals, std::ostream& out, std::ostream& err);

}  // namespace tablepub
