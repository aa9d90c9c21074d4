#pragma once

// The main loop shared by tablepub-tail's following modes (tail_follow for
// --snapshot/--mirror, tail_tx for --tx): poll, flush, dump the mirror on a
// signal and once at the end.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <iosfwd>

#include "tail/tail_options.hpp"

namespace tablepub {

// Flags set by signal handlers: stop, and write the mirror now.
struct TailSignals {
    volatile std::sig_atomic_t* stop = nullptr;
    volatile std::sig_atomic_t* dump = nullptr;
};

// Calls poll until a stop signal or until `done` turns true (set by the
// subscriber's callbacks, e.g. after --count), flushing `out` after every
// poll; with --mirror, calls dump(N) on every dump signal and once on exit
// (N counts the dumps from 1). A failed dump is logged to `err` and makes
// the exit status 1. Returns the process exit status.
int follow_loop(const TailOptions& options, TailSignals signals, const bool& done,
                const std::function<void(std::chrono::milliseconds)>& poll,
                const std::function<void(std::uint64_t)>& dump, std::ostream& out, std::ostream& err);

}  // namespace tablepub
