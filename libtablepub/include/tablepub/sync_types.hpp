// The options, states, statistics and callbacks of keeping one table in
// sync (TableSync, driven by tablepub::Subscriber). Installed: needs no
// protobuf or ZeroMQ header. The callbacks hand out generated wire types,
// declared here only; a program that looks into them includes the installed
// "tablepub/tablepub.pb.h" (and then needs protobuf's headers itself).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tablepub {

namespace v1 {
class Change;
class Message;
class SnapshotBegin;
}  // namespace v1

enum class SyncState {
    syncing,      // first snapshot requested; stream messages are buffered
    live,         // snapshot applied; stream messages applied as they come
    replaying,    // a gap was seen; missing messages requested, later ones buffered
    resyncing,    // the stream could not be continued; a new snapshot is requested
    unpublished,  // the table is not published (or was unpublished); waiting for it
    moved,        // the table was renamed: moved_to() names its topic now; nothing
                  // more comes here (unless a table takes the old name again)
    failed,       // the relay refused the request (bad projection, forbidden,
                  // too large, ...); retried slowly
};

[[nodiscard]] const char* to_string(SyncState s) noexcept;

struct SyncOptions {
    // Stream messages held while a snapshot or replay is under way; beyond
    // that they are dropped and fetched again by replay afterwards.
    std::size_t max_buffered = 1'000'000;
    bool keep_mirror = true;
    // A change that does not fit the mirror (UPDATE of a missing key, ...)
    // means the copy is wrong: take a new snapshot.
    bool resync_on_anomaly = true;
    // Replay attempts that bring nothing new before giving up and resyncing.
    unsigned max_replay_attempts = 5;
    std::chrono::milliseconds retry_delay{500};
    std::chrono::milliseconds unpublished_retry{5000};
    // Heartbeat intervals without any message before the table is "stale".
    unsigned stale_heartbeats = 3;
    // Consecutive heartbeats below our position before we conclude the
    // stream was reset (sequence numbers restarted) and resync.
    unsigned regression_heartbeats = 3;
    // Projection sent with snapshot requests (empty: all published columns).
    std::vector<std::string> columns;
};

// Called synchronously from the TableSync methods. `table` is "schema.table".
struct SyncCallbacks {
    std::function<void(const std::string& table, const v1::SnapshotBegin&)> on_snapshot_begin;
    std::function<void(const std::string& table, const v1::Change& row)> on_snapshot_row;
    std::function<void(const std::string& table, std::uint64_t rows)> on_snapshot_end;
    // Every stream message that takes effect after the snapshot: data
    // changes, SCHEMA and UNPUBLISH (not those already in the snapshot).
    std::function<void(const std::string& table, const v1::Message&)> on_change;
    std::function<void(const std::string& table, SyncState from, SyncState to, const std::string& why)> on_state;
};

struct SyncStats {
    std::uint64_t applied = 0;          // messages applied after a snapshot
    std::uint64_t skipped_visible = 0;  // already contained in the snapshot
    std::uint64_t duplicates = 0;       // seq already processed
    std::uint64_t gaps = 0;             // gaps detected (by seq or heartbeat)
    std::uint64_t replays = 0;          // replay requests sent
    std::uint64_t snapshots = 0;        // snapshot streams begun
    std::uint64_t resyncs = 0;          // snapshots taken again (RESYNC messages included)
    std::uint64_t anomalies = 0;        // changes that did not fit the mirror
    std::uint64_t dropped = 0;          // messages dropped because the buffer was full
    std::uint64_t resync_markers = 0;   // RESYNC messages that took effect (each also a resync)
};

}  // namespace tablepub
