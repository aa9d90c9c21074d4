#pragma once

// tablepub-tail --snapshot: progress of the snapshots being received, on
// stderr. On a terminal one line redrawn in place (rows, rows/s and time per
// table); otherwise a plain line per table every `interval`, so that a log
// keeps a trace without a line per row. The snapshot protocol does not tell
// the table's size (no reltuples in SnapshotBegin), so there is no total,
// percentage or ETA to show.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>

namespace tablepub {

class SnapshotProgress {
public:
    using Clock = std::chrono::steady_clock;

    // tty: redraw one line (ANSI erase-line); otherwise plain lines.
    SnapshotProgress(std::ostream& err, bool tty, std::chrono::milliseconds interval);

    void begin(const std::string& table, Clock::time_point now);
    void row(const std::string& table, Clock::time_point now);
    void end(const std::string& table, std::uint64_t rows, Clock::time_point now);
    // Erases the redrawn line before something else is written to `err`.
    void clear();

private:
    struct Table {
        Clock::time_point started;
        std::uint64_t rows = 0;
    };

    void report(Clock::time_point now);
    [[nodiscard]] static std::string describe(const std::string& table, const Table& t, Clock::time_point now);

    std::ostream& err_;
    bool tty_;
    std::chrono::milliseconds interval_;
    std::map<std::string, Table> active_;
    Clock::time_point next_report_{};
    bool line_drawn_ = false;
};

// The interval of each form: a terminal redraws often, a log every few seconds.
inline constexpr std::chrono::milliseconds PROGRESS_TTY_INTERVAL{200};
inline constexpr std::chrono::milliseconds PROGRESS_LOG_INTERVAL{5000};

}  // namespace tablepub
