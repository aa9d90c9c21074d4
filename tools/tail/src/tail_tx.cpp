#include "tail/tail_tx.hpp"

#include <chrono>
#include <ostream>

#include "common/bus_security.hpp"
#include "tablepub.pb.h"
#include "tablepub/set_subscriber.hpp"
#include "tablepub/table_set_sync.hpp"
#include "tail/tail_format.hpp"
#include "tail/tail_loop.hpp"
#include "tail/tail_mirror.hpp"

namespace tablepub {

namespace {

// Mirror and status are taken under one lock: the file shows one
// transaction boundary of the whole set.
void dump(const TailOptions& options, const SetSubscriber& sub, std::uint64_t dumps) {
    const std::string status = json_line(tail_set_status_json(sub.status(), dumps)) + "\n";
    std::string content;
    sub.with_view([&](const TableSetSync& set) {
        for (const auto& table : options.tables) {
            for (const auto& line : mirror_lines(table, *set.mirror(table), *set.schema(table), options.bytes)) {
                content += line;
                content += '\n';
            }
        }
    });
    write_file_atomically(options.mirror, content);
    write_file_atomically(options.mirror + ".status", status);
}

}  // namespace

std::string transaction_json(const SetTransaction& tx, BytesFormat bytes) {
    std::string out = "{\"changes\":[";
    bool first = true;
    for (const auto& change : tx.changes) {
        if (!first) out += ',';
        first = false;
        append_message_json(out, change.table, *change.message, bytes);
    }
    out += "],\"commit_time\":";
    v1::Value t;
    t.set_timestamp(tx.commit_time);
    append_value_json(out, t, bytes);
    out += ",\"position\":" + std::to_string(tx.position) + ",\"txid\":" + std::to_string(tx.txid) + "}";
    return out;
}

nlohmann::json tail_set_status_json(const SetStatus& s, std::uint64_t dumps) {
    auto tables = nlohmann::json::array();
    for (const auto& t : s.tables) tables.push_back({{"table", t.table}, {"last_seq", t.last_seq}, {"rows", t.rows}});
    const auto& st = s.stats;
    return {{"dumps", dumps},
            {"state", to_string(s.state)},
            {"reason", s.reason},
            {"position", s.position},
            {"latest_position", s.latest_position},
            {"lag", s.lag},
            {"lag_seconds", s.lag_seconds},
            {"buffered", s.buffered},
            {"stale", s.stale},
            {"tables", std::move(tables)},
            {"stats",
             {{"transactions", st.transactions},
              {"skipped_contained", st.skipped_contained},
              {"duplicates", st.duplicates},
              {"gaps", st.gaps},
              {"replays", st.replays},
              {"snapshots", st.snapshots},
              {"resyncs", st.resyncs},
              {"anomalies", st.anomalies},
              {"dropped", st.dropped}}}};
}

int run_tail_transactions(const TailOptions& options, TailSignals signals, std::ostream& out, std::ostream& err) {
    std::uint64_t printed = 0;
    bool done = false;
    SetCallbacks cb;
    cb.on_transaction = [&](const SetTransaction& tx) {
        if (done) return;
        out << transaction_json(tx, options.bytes) << '\n';
        if (options.count != 0 && ++printed >= options.count) done = true;
    };
    const SetSubscriber* subscriber = nullptr;
    cb.on_snapshot = [&](std::uint64_t position) {
        err << "tablepub-tail: snapshot of the set at position " << position << std::endl;
        if (!options.snapshot || subscriber == nullptr) return;
        // Called with the subscriber's lock held, on its thread: the view
        // is the snapshot just installed.
        subscriber->with_view([&](const TableSetSync& set) {
            out << json_line({{"op", "snapshot_begin"}, {"position", position}, {"tables", options.tables}}) << '\n';
            for (const auto& table : options.tables)
                for (const auto& line : mirror_lines(table, *set.mirror(table), *set.schema(table), options.bytes))
                    out << line << '\n';
            out << json_line({{"op", "snapshot_end"}, {"position", position}}) << '\n';
        });
    };
    cb.on_state = [&](SetState from, SetState to, const std::string& why) {
        err << "tablepub-tail: set: " << to_string(from) << " -> " << to_string(to) << " (" << why << ")" << std::endl;
    };

    SetSubscriberOptions so;
    so.publish_endpoints = options.connect;
    so.snapshot_endpoints = options.snapshot_endpoints;
    so.tables = options.tables;
    so.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
    const auto curve = load_curve_client(options.curve_server_key, options.curve_client_key);
    so.curve_server_key = curve.server_key;
    so.curve_public_key = curve.public_key;
    so.curve_secret_key = curve.secret_key;
    SetSubscriber sub(std::move(so), std::move(cb));
    subscriber = &sub;

    return follow_loop(
        options, signals, done, [&](std::chrono::milliseconds timeout) { sub.poll(timeout); },
        [&](std::uint64_t dumps) { dump(options, sub, dumps); }, out, err);
}

}  // namespace tablepub
