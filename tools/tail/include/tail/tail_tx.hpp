#pragma once

// tablepub-tail --tx: follows the --table set as one unit through
// tablepub::SetSubscriber and prints one JSON object per committed
// transaction; with --mirror, writes the set's mirror at a transaction
// boundary.

#include <iosfwd>
#include <string>

#include <nlohmann/json.hpp>

#include "tail/tail_loop.hpp"
#include "tail/tail_options.hpp"

namespace tablepub {

struct SetStatus;
struct SetTransaction;

// One line (no newline): {"changes":[message objects as tablepub-tail
// prints them],"commit_time":"...Z","position":N,"txid":N}.
[[nodiscard]] std::string transaction_json(const SetTransaction& tx, BytesFormat bytes);

// The FILE.status object of --tx --mirror.
[[nodiscard]] nlohmann::json tail_set_status_json(const SetStatus& status, std::uint64_t dumps);

// Runs until a stop signal (or --count transactions); returns the exit status.
int run_tail_transactions(const TailOptions& options, TailSignals signals, std::ostream& out, std::ostream& err);

}  // namespace tablepub
