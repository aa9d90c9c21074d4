// Counters of the snapshot/replay service, for monitoring (relay --metrics).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tablepub {

// Updated by the service's threads with relaxed atomic increments (once per
// request, stream end or chunk, never per row), read by the metrics
// endpoint. A stream is active from its start until it is served or failed.
struct SyncStats {
    enum Kind : std::size_t { SNAPSHOT = 0, REPLAY = 1, KINDS = 2 };
    enum Refusal : std::size_t { BUSY = 0, FORBIDDEN = 1, MALFORMED = 2, REFUSALS = 3 };

    std::atomic<std::uint64_t> started[KINDS] = {};
    std::atomic<std::uint64_t> served[KINDS] = {};  // sent their last chunk
    std::atomic<std::uint64_t> failed[KINDS] = {};  // ended early: error reply, cancel, client gone
    std::atomic<std::uint64_t> bytes[KINDS] = {};   // reply bytes handed to ZeroMQ
    std::atomic<std::uint64_t> refused[REFUSALS] = {};

    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
        counter.fetch_add(n, std::memory_order_relaxed);
    }
};

}  // namespace tablepub
