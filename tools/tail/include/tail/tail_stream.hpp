#pragma once

// tablepub-tail without --snapshot/--mirror: prints the stream of every
// selected table as it arrives. With --snapshot-endpoint it prints each
// table's messages once and in seq order, replaying what ZeroMQ dropped
// (tail_repair.hpp); without one it prints what arrives, duplicates
// included, and reports what it never received (tail_gaps.hpp).

#include <csignal>
#include <iosfwd>

#include "tail/tail_options.hpp"

namespace tablepub {

// Runs until *stop is set (or --count changes are printed), writing JSON
// lines to out_fd and diagnostics to err. Returns the exit status: 0, or
// 3 when messages were lost (unless --allow-gaps).
int run_tail_stream(const TailOptions& options, const volatile std::sig_atomic_t* stop, int out_fd, std::ostream& err);

}  // namespace tablepub
