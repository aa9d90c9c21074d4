#pragma once

// tablepub-tail's raw mode prints the stream as it arrives; this notices
// what it did not print: a per-table seq that jumps, or a heartbeat that
// announces a seq never received (issue 15: a slow reader overflows the
// relay's --send-hwm and ZeroMQ drops messages without a word).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tablepub {

namespace v1 {
class Message;
}

// Missing sequence numbers first .. last (inclusive) of one table.
struct TailGap {
    std::string table;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

class TailGaps {
public:
    // Accounts for one received message of `table`; returns the gap it
    // reveals, if any. The first message of a table starts its count (what
    // came before the tail joined is not a gap). A seq at or below the
    // position (duplicates after a relay restart) is no gap either.
    std::optional<TailGap> on_message(std::string_view table, const v1::Message& msg);

    [[nodiscard]] std::uint64_t gaps() const noexcept { return gaps_; }
    [[nodiscard]] std::uint64_t missing() const noexcept { return missing_; }

private:
    std::map<std::string, std::uint64_t, std::less<>> last_;  // highest seq accounted for
    std::uint64_t gaps_ = 0;
    std::uint64_t missing_ = 0;
};

// "table public.t: missed seq 5..9 (5 messages)".
[[nodiscard]] std::string describe(const TailGap& gap);

}  // namespace tablepub
