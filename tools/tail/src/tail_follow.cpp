#include "tail/tail_follow.hpp"

#include <unistd.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

#include "common/bus_security.hpp"
#include "tablepub.pb.h"
#include "tablepub/subscriber.hpp"
#include "tablepub/table_sync.hpp"
#include "tail/tail_format.hpp"
#include "tail/tail_loop.hpp"
#include "tail/tail_mirror.hpp"
#include "tail/tail_progress.hpp"

namespace tablepub {

namespace {

nlohmann::json stats_json(const SyncStats& s) {
    return {{"applied", s.applied},       {"skipped_visible", s.skipped_visible},
            {"duplicates", s.duplicates}, {"gaps", s.gaps},
            {"replays", s.replays},       {"snapshots", s.snapshots},
            {"resyncs", s.resyncs},       {"anomalies", s.anomalies},
            {"dropped", s.dropped},       {"resync_markers", s.resync_markers}};
}

// Writes the mirror, then the status (so a reader that sees dump N in the
// status finds the mirror of dump N or later). The status is taken first,
// at the same moment as the mirror's rows: taken after writing a large
// mirror, it would call every table stale for the time the write took.
void dump(const TailOptions& options, const Subscriber& sub, std::uint64_t dumps) {
    const std::string status = json_line(tail_status_json(sub.status(), dumps)) + "\n";
    std::string content;
    for (const auto& table : options.tables) {
        sub.with_table(table, [&](const TableSync& t) {
            for (const auto& line : mirror_lines(table, t.mirror(), t.schema(), options.bytes)) {
                content += line;
                content += '\n';
            }
        });
    }
    write_file_atomically(options.mirror, content);
    write_file_atomically(options.mirror + ".status", status);
}

}  // namespace

nlohmann::json tail_status_json(const std::vector<TableStatus>& tables, std::uint64_t dumps) {
    auto arr = nlohmann::json::array();
    for (const auto& t : tables) {
        arr.push_back({{"table", t.table},
                       {"state", to_string(t.state)},
                       {"last_seq", t.last_seq},
                       {"latest_seq", t.latest_seq},
                       {"lag", t.lag},
                       {"buffered", t.buffered},
                       {"rows", t.rows},
                       {"stale", t.stale},
                       {"moved_to", t.moved_to},
                       {"reason", t.reason},
                       {"stats", stats_json(t.stats)}});
    }
    return {{"dumps", dumps}, {"tables", std::move(arr)}};
}

int run_tail_subscriber(const TailOptions& options, TailSignals signals, std::ostream& out, std::ostream& err) {
    std::uint64_t printed = 0;
    bool done = false;
    std::optional<SnapshotProgress> progress;
    if (options.snapshot && !options.quiet) {
        const bool tty = isatty(STDERR_FILENO) == 1;
        progress.emplace(err, tty, tty ? PROGRESS_TTY_INTERVAL : PROGRESS_LOG_INTERVAL);
    }
    SyncCallbacks cb;
    if (options.snapshot) {
        cb.on_snapshot_begin = [&](const std::string& table, const v1::SnapshotBegin& b) {
            if (progress) progress->begin(table, SnapshotProgress::Clock::now());
            nlohmann::json j{{"table", table},   {"op", "snapshot_begin"}, {"seq", b.seq()},
                             {"xmin", b.xmin()}, {"xmax", b.xmax()},       {"xip", b.xip()}};
            out << json_line(j) << '\n';
        };
        cb.on_snapshot_row = [&, line = std::string()](const std::string& table, const v1::Change& row) mutable {
            line.assign("{\"key\":");
            append_columns_json(line, row.key(), options.bytes);
            line += ",\"op\":\"snapshot\",\"table\":";
            append_json_string(line, table);
            line += ",\"values\":";
            append_columns_json(line, row.values(), options.bytes);
            line += "}\n";
            out.write(line.data(), static_cast<std::streamsize>(line.size()));
            if (progress) progress->row(table, SnapshotProgress::Clock::now());
        };
        cb.on_snapshot_end = [&](const std::string& table, std::uint64_t rows) {
            if (progress) progress->end(table, rows, SnapshotProgress::Clock::now());
            out << json_line({{"table", table}, {"op", "snapshot_end"}, {"rows", rows}}) << '\n';
        };
    }
    cb.on_change = [&, line = std::string()](const std::string& table, const v1::Message& msg) mutable {
        if (done) return;
        line.clear();
        append_message_json(line, table, msg, options.bytes);
        line += '\n';
        out.write(line.data(), static_cast<std::streamsize>(line.size()));
        if (options.count != 0 && ++printed >= options.count) done = true;
    };
    cb.on_state = [&](const std::string& table, SyncState from, SyncState to, const std::string& why) {
        if (progress) progress->clear();
        err << "tablepub-tail: " << table << ": " << to_string(from) << " -> " << to_string(to) << " (" << why << ")"
            << std::endl;
    };

    SubscriberOptions so;
    so.publish_endpoints = options.connect;
    so.snapshot_endpoints = options.snapshot_endpoints;
    so.tables = options.tables;
    so.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
    so.sync.keep_mirror = !options.mirror.empty();
    const auto curve = load_curve_client(options.curve_server_key, options.curve_client_key);
    so.curve_server_key = curve.server_key;
    so.curve_public_key = curve.public_key;
    so.curve_secret_key = curve.secret_key;
    Subscriber sub(std::move(so), std::move(cb));

    return follow_loop(
        options, signals, done, [&](std::chrono::milliseconds timeout) { sub.poll(timeout); },
        [&](std::uint64_t dumps) { dump(options, sub, dumps); }, out, err);
}

}  // namespace tablepub
