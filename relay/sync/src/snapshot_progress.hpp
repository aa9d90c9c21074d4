// Internal: progress lines for long snapshots (rows, rate, ETA).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <spdlog/spdlog.h>

namespace tablepub::sync {

// Logs "snapshot of T: N rows of about M (P%), R rows/s, about S s left"
// every `every` while a snapshot streams; M is pg_class.reltuples read when
// the snapshot started (negative: never analyzed, no estimate). Checks the
// clock once per 4096 rows, so it costs nothing per row.
class SnapshotProgress {
public:
    using clock = std::chrono::steady_clock;

    SnapshotProgress(std::string table, double estimate, clock::time_point started,
                     std::chrono::seconds every = std::chrono::seconds(5))
        : table_(std::move(table)), estimate_(estimate), started_(started), every_(every), next_(started + every) {}

    void row(std::uint64_t rows) {
        if ((rows & 4095) != 0) return;
        const auto now = clock::now();
        if (now < next_) return;
        next_ = now + every_;
        spdlog::info("{}", describe(table_, rows, now - started_, estimate_));
    }

    // The line for `rows` read in `elapsed` of a table of about `estimate`.
    [[nodiscard]] static std::string describe(const std::string& table, std::uint64_t rows, clock::duration elapsed,
                                              double estimate) {
        const double seconds = std::chrono::duration<double>(elapsed).count();
        const double rate = seconds > 0 ? static_cast<double>(rows) / seconds : 0;
        std::string line = "snapshot of " + table + ": " + std::to_string(rows) + " rows";
        if (estimate > 0) {
            const double left = estimate - static_cast<double>(rows);
            line += fmt::format(" of about {:.0f} ({:.0f}%)", estimate,
                                std::min(100.0, 100.0 * static_cast<double>(rows) / estimate));
            line += fmt::format(", {:.0f} rows/s", rate);
            if (left > 0 && rate > 0)
                line += fmt::format(", about {:.0f} s left", left / rate);
            else
                line += ", past the estimate (pg_class.reltuples)";
        } else {
            line += fmt::format(", {:.0f} rows/s (no estimate: the table was never analyzed)", rate);
        }
        return line;
    }

private:
    std::string table_;
    double estimate_;
    clock::time_point started_;
    std::chrono::seconds every_;
    clock::time_point next_;
};

}  // namespace tablepub::sync
