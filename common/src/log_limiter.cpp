#include "common/log_limiter.hpp"

#include <iterator>

namespace tablepub {

LogLimiter::LogLimiter(std::chrono::seconds window, std::size_t burst, std::size_t max_keys)
    : window_(window), burst_(burst), max_keys_(max_keys) {}

std::optional<std::uint64_t> LogLimiter::allow(const std::string& key, Clock::time_point now) {
    if (now - window_start_ >= window_) {
        window_start_ = now;
        in_window_ = 0;
    }
    const auto it = last_.find(key);
    if ((it != last_.end() && now - it->second < window_) || in_window_ >= burst_) {
        ++suppressed_;
        return std::nullopt;
    }
    if (last_.size() >= max_keys_) {
        for (auto i = last_.begin(); i != last_.end();) i = now - i->second >= window_ ? last_.erase(i) : std::next(i);
        // Still full: forgetting keys only lets a few more lines through,
        // and the burst limit still holds.
        if (last_.size() >= max_keys_) last_.clear();
    }
    last_[key] = now;
    ++in_window_;
    const auto n = suppressed_;
    suppressed_ = 0;
    return n;
}

}  // namespace tablepub
