// Decides which of many similar log lines to write, so that a peer that
// retries every 100 ms cannot flood the log.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace tablepub {

class LogLimiter {
public:
    using Clock = std::chrono::steady_clock;

    // At most one line per key per window, and at most burst lines per
    // window in all; remembers at most max_keys keys.
    explicit LogLimiter(std::chrono::seconds window = std::chrono::seconds(60), std::size_t burst = 20,
                        std::size_t max_keys = 4096);

    // nullopt: do not log this one. Otherwise log it, and the value is the
    // number of lines suppressed since the last one logged.
    [[nodiscard]] std::optional<std::uint64_t> allow(const std::string& key, Clock::time_point now = Clock::now());

private:
    std::chrono::seconds window_;
    std::size_t burst_;
    std::size_t max_keys_;
    std::unordered_map<std::string, Clock::time_point> last_;
    Clock::time_point window_start_{};
    std::size_t in_window_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace tablepub
