#pragma once

// tablepub-tail --snapshot / --mirror: follows tables through
// tablepub::Subscriber (snapshot, then deltas without duplicates or gaps).

#include <cstdint>
#include <iosfwd>
#include <vector>

#include <nlohmann/json.hpp>

#include "tail/tail_loop.hpp"
#include "tail/tail_options.hpp"

namespace tablepub {

struct TableStatus;

// The FILE.status object written next to the mirror.
[[nodiscard]] nlohmann::json tail_status_json(const std::vector<TableStatus>& tables, std::uint64_t dumps);

// Runs until a stop signal (or --count changes); writes the mirror on every
// dump signal and on exit. Returns the process exit status.
int run_tail_subscriber(const TailOptions& options, TailSignals signals, std::ostream& out, std::ostream& err);

}  // namespace tablepub
