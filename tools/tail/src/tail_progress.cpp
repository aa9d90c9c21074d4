#include "tail/tail_progress.hpp"

#include <cstdio>
#include <ostream>

namespace tablepub {

namespace {

double seconds_between(SnapshotProgress::Clock::time_point from, SnapshotProgress::Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

}  // namespace

SnapshotProgress::SnapshotProgress(std::ostream& err, bool tty, std::chrono::milliseconds interval)
    : err_(err), tty_(tty), interval_(interval) {}

void SnapshotProgress::begin(const std::string& table, Clock::time_point now) {
    // A resync starts the table's count again.
    active_[table] = Table{now, 0};
    if (active_.size() == 1) next_report_ = now + interval_;
}

void SnapshotProgress::row(const std::string& table, Clock::time_point now) {
    auto it = active_.find(table);
    if (it == active_.end()) return;
    ++it->second.rows;
    if (now >= next_report_) report(now);
}

void SnapshotProgress::end(const std::string& table, std::uint64_t rows, Clock::time_point now) {
    auto it = active_.find(table);
    if (it == active_.end()) return;
    it->second.rows = rows;
    clear();
    err_ << "tablepub-tail: " << describe(table, it->second, now) << ", done" << std::endl;
    active_.erase(it);
    if (tty_ && !active_.empty()) report(now);
}

void SnapshotProgress::clear() {
    if (!line_drawn_) return;
    err_ << "\r\x1b[K" << std::flush;
    line_drawn_ = false;
}

void SnapshotProgress::report(Clock::time_point now) {
    next_report_ = now + interval_;
    if (tty_) {
        std::string line;
        for (const auto& [table, t] : active_) {
            if (!line.empty()) line += "; ";
            line += describe(table, t, now);
        }
        err_ << "\r\x1b[K" << line << std::flush;
        line_drawn_ = true;
        return;
    }
    for (const auto& [table, t] : active_) err_ << "tablepub-tail: " << describe(table, t, now) << std::endl;
}

std::string SnapshotProgress::describe(const std::string& table, const Table& t, Clock::time_point now) {
    const double secs = seconds_between(t.started, now);
    const double rate = secs > 0 ? static_cast<double>(t.rows) / secs : 0;
    char buf[128];
    std::snprintf(buf, sizeof buf, ": snapshot %llu rows, %.0f rows/s, %.1f s", static_cast<unsigned long long>(t.rows),
                  rate, secs);
    return table + buf;
}

}  // namespace tablepub
