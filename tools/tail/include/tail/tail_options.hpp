#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <variant>
#include <vector>

#include "tail/tail_format.hpp"

namespace tablepub {

inline constexpr int DEFAULT_REPAIR_RECEIVE_HWM = 100'000;

// Configuration of tablepub-tail; every flag also reads TABLEPUB_<FLAG>.
struct TailOptions {
    std::vector<std::string> connect{"tcp://127.0.0.1:5556"};
    std::vector<std::string> tables;  // "<schema>.<table>"; empty: every table
    bool heartbeats = false;
    BytesFormat bytes = BytesFormat::base64;
    std::uint64_t count = 0;  // exit after this many changes; 0: never
    bool allow_gaps = false;  // raw mode: exit 0 even when messages were lost
    // Raw mode: messages queued in the SUB socket per connection; -1: 0 (no
    // limit, so nothing is dropped while memory lasts) without
    // --snapshot-endpoint, DEFAULT_REPAIR_RECEIVE_HWM with one (memory
    // stays bounded; what the relay drops is replayed).
    int receive_hwm = -1;
    // Raw mode with --snapshot-endpoint: bytes of live messages held while
    // a replay runs (tail_repair.hpp).
    std::size_t replay_buffer_bytes = 64u << 20;
    // Subscriber mode (--snapshot or --mirror): snapshot + deltas through
    // tablepub::Subscriber instead of printing the raw stream.
    bool snapshot = false;  // print the snapshot rows before the changes
    bool quiet = false;     // no snapshot progress on stderr (tail_progress.hpp)
    std::vector<std::string> snapshot_endpoints;
    std::string mirror;  // write the mirror here on SIGUSR1 and on exit
    std::uint64_t request_timeout_ms = 10'000;
    // CURVE: the relay's public key file and our secret key file (both or neither).
    std::string curve_server_key;
    std::string curve_client_key;

    [[nodiscard]] bool subscriber_mode() const noexcept { return snapshot || !mirror.empty(); }
};

using TailParse = std::variant<TailOptions, int>;

[[nodiscard]] TailParse parse_tail_options(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// True when a received topic is one the user asked for: a SUB prefix
// filter for "public.t" also delivers "public.t2".
[[nodiscard]] bool topic_selected(const TailOptions& options, std::string_view topic);

}  // namespace tablepub
