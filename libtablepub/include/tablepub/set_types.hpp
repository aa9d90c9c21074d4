// The options, states, statistics, transactions and callbacks of keeping a
// set of tables as one unit (tablepub::SetSubscriber; docs/protocol.md
// section 9, "Several tables as one unit"). Installed: needs no protobuf or
// ZeroMQ header. A transaction is handed out in plain types (Datum rows);
// the wire message behind each change is only declared here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tablepub/datum.hpp"

namespace tablepub {

namespace v1 {
class Message;
}

enum class SetState {
    syncing,    // first snapshot of the set requested; messages are buffered
    live,       // transactions are applied in commit order
    resyncing,  // a new snapshot of the whole set is requested; the old view stays
    failed,     // the relay refused the snapshot (not published, forbidden, ...); retried slowly
    moved,      // a table of the set was renamed (SetStatus::moved_to); final: nothing more is asked
};

[[nodiscard]] const char* to_string(SetState s) noexcept;

// What a change does, numbered as the wire's Op (tablepub.proto).
enum class ChangeOp : std::uint8_t {
    unspecified = 0,  // an operation this library does not know (a newer relay)
    insert = 1,
    update = 2,
    remove = 3,  // DELETE
    truncate = 4,
    schema = 5,     // the table's published columns changed
    unpublish = 6,  // the table stopped being published
    resync = 7,     // rows changed in a way not expressed as row changes
};

[[nodiscard]] const char* to_string(ChangeOp op) noexcept;

// One change of one table within a transaction (docs/protocol.md,
// "Changes"): published columns only.
struct SetChange {
    std::string table;  // "schema.table"
    std::uint64_t seq = 0;
    ChangeOp op = ChangeOp::unspecified;
    DatumRow key;      // primary key (after an UPDATE)
    DatumRow old_key;  // UPDATE that changed the key: the key before
    DatumRow values;   // INSERT: the row; UPDATE: the changed columns (all with full_row)
    // The wire message, valid during the callback only; a program that
    // looks into it includes the installed "tablepub/tablepub.pb.h".
    const v1::Message* message = nullptr;
};

// One committed transaction as the set exposes it: its changes on the set's
// tables, table by table in the order the transaction lists them, each in
// seq order.
struct SetTransaction {
    std::uint64_t position = 0;
    std::uint64_t txid = 0;
    std::int64_t commit_time = 0;  // microseconds since 1970-01-01 UTC
    std::vector<SetChange> changes;
};

struct SetOptions {
    // Messages held (all tables and ".tx") while a snapshot or replay runs
    // or a transaction waits for its ranges; beyond that new ones are
    // dropped and fetched again by replay once they are needed. A replay
    // asks for at most this many (a transaction's own range at least), so
    // replayed messages, which are never dropped, stay bounded too.
    std::size_t max_buffered = 1'000'000;
    unsigned max_replay_attempts = 5;  // replays bringing nothing new before a resync
    std::chrono::milliseconds retry_delay{500};
    std::chrono::milliseconds failed_retry{5000};
    // Consecutive ".tx" heartbeats below our position before we conclude the
    // stream was reset (positions restarted) and resync.
    unsigned regression_heartbeats = 3;
    // Heartbeat intervals without anything on ".tx" before the set is stale.
    unsigned stale_heartbeats = 3;
    // Projection per table ("schema.table" -> columns; absent: all).
    std::map<std::string, std::vector<std::string>> columns;
};

// Called synchronously, after the read view changed.
struct SetCallbacks {
    // A new transaction was applied to the read view.
    std::function<void(const SetTransaction&)> on_transaction;
    // The read view was replaced by a snapshot of the set at this position.
    std::function<void(std::uint64_t position)> on_snapshot;
    std::function<void(SetState from, SetState to, const std::string& why)> on_state;
};

struct SetStats {
    std::uint64_t transactions = 0;       // new transactions applied (and reported)
    std::uint64_t skipped_contained = 0;  // transactions already in the snapshot
    std::uint64_t duplicates = 0;         // messages already processed; Transactions of another group
    std::uint64_t gaps = 0;               // gaps found (on ".tx" or a table)
    std::uint64_t replays = 0;            // replay requests sent
    std::uint64_t snapshots = 0;          // snapshots of the set applied
    std::uint64_t resyncs = 0;            // snapshots taken again
    std::uint64_t anomalies = 0;          // transactions that did not fit the view
    std::uint64_t dropped = 0;            // messages dropped because the buffers were full
    std::uint64_t unasked = 0;            // replayed messages outside the range asked for, ignored
};

}  // namespace tablepub
