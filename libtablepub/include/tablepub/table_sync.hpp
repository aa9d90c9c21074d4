// Keeping one table in sync: snapshot + deltas, duplicates, gaps, replay and
// resync, as a pure state machine with no I/O (docs/protocol.md, section
// "The subscriber algorithm"). The Subscriber feeds it messages and replies
// and sends the requests it asks for; unit tests drive it directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "tablepub.pb.h"
#include "tablepub/mirror.hpp"
#include "tablepub/pg_snapshot.hpp"

namespace tablepub {

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

class TableSync {
public:
    using Clock = std::chrono::steady_clock;

    TableSync(std::string schema_name, std::string table_name, SyncOptions options = {}, SyncCallbacks callbacks = {});

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] const std::string& schema_name() const noexcept { return schema_name_; }
    [[nodiscard]] const std::string& table_name() const noexcept { return table_name_; }

    // Asks for the first snapshot. Call after the SUB socket is subscribed.
    void start(Clock::time_point now);
    // A message of this table from the PUB socket (topic already checked).
    void on_message(const v1::Message& msg, Clock::time_point now);
    // A reply on the snapshot endpoint; ignored unless it answers the
    // request in progress.
    void on_reply(const v1::Reply& reply, Clock::time_point now);
    // The request got no (complete) answer in time.
    void on_request_failed(std::uint64_t request_id, const std::string& why, Clock::time_point now);
    // Fires delayed retries. Call at least every retry_delay.
    void tick(Clock::time_point now);

    // The request to send next, if any (request_id, kind; the caller adds
    // credit). A new request supersedes the previous one, which the caller
    // should cancel.
    [[nodiscard]] std::optional<v1::Request> take_request();
    [[nodiscard]] std::uint64_t pending_request_id() const noexcept { return pending_id_; }

    [[nodiscard]] SyncState state() const noexcept { return state_; }
    // Last sequence number processed (applied or known to be in the snapshot).
    [[nodiscard]] std::uint64_t last_seq() const noexcept { return last_seq_; }
    // Highest sequence number announced by the relay (messages, heartbeats).
    [[nodiscard]] std::uint64_t latest_seq() const noexcept { return latest_seq_; }
    [[nodiscard]] std::uint64_t lag() const noexcept { return latest_seq_ > last_seq_ ? latest_seq_ - last_seq_ : 0; }
    [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size(); }
    // No message or heartbeat for stale_heartbeats heartbeat intervals (never
    // while unpublished or moved: then silence is expected).
    [[nodiscard]] bool stale(Clock::time_point now) const noexcept;
    // Moved state: the table's topic now, "schema.table"; empty otherwise.
    [[nodiscard]] const std::string& moved_to() const noexcept { return moved_to_; }
    // Why the table entered its current state (the on_state reason).
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    [[nodiscard]] const Mirror& mirror() const noexcept { return mirror_; }
    [[nodiscard]] const v1::TableSchema& schema() const noexcept { return schema_; }
    [[nodiscard]] std::uint64_t schema_seq() const noexcept { return schema_seq_; }
    [[nodiscard]] const std::optional<PgSnapshot>& snapshot() const noexcept { return filter_; }
    [[nodiscard]] const SyncStats& stats() const noexcept { return stats_; }

private:
    enum class Pending { none, snapshot, replay };

    void set_state(SyncState s, const std::string& why);
    void request_snapshot();
    void request_replay();
    void resync(const std::string& why);
    void retry_later(Pending what, std::chrono::milliseconds delay, Clock::time_point now);
    void buffer(const v1::Message& msg);
    void deliver(const v1::Message& msg);
    void apply(const v1::Message& msg);
    void apply_schema(const v1::TableSchema& next, std::uint64_t seq);
    void drain();
    void check_complete(Clock::time_point now);
    void on_heartbeat(const v1::Message& msg);
    void stop_following(SyncState s, const std::string& why);
    void move(std::string to, const std::string& why);
    void on_snapshot_end(const v1::SnapshotEnd& end, Clock::time_point now);
    void on_replay_end(Clock::time_point now);
    void on_error(const v1::Error& err, Clock::time_point now);
    [[nodiscard]] bool in_order_states() const noexcept {
        return state_ == SyncState::live || state_ == SyncState::replaying;
    }

    std::string schema_name_, table_name_, name_;
    SyncOptions options_;
    SyncCallbacks callbacks_;

    SyncState state_ = SyncState::syncing;
    std::string reason_;
    std::string moved_to_;
    Pending pending_ = Pending::none;
    std::uint64_t pending_id_ = 0;
    std::optional<v1::Request> outbox_;
    std::optional<Clock::time_point> retry_at_;
    Pending retry_what_ = Pending::none;

    bool snapshot_begun_ = false;
    std::uint64_t snap_seq_ = 0;
    std::uint64_t snap_rows_ = 0;
    unsigned replay_attempts_ = 0;
    std::uint64_t replay_start_seq_ = 0;

    std::optional<PgSnapshot> filter_;
    std::uint64_t last_seq_ = 0;
    std::uint64_t latest_seq_ = 0;
    std::map<std::uint64_t, v1::Message> buffer_;

    Mirror mirror_;
    v1::TableSchema schema_;
    std::uint64_t schema_seq_ = 0;

    Clock::time_point last_heard_{};
    std::uint64_t heartbeat_ms_ = 0;
    unsigned regressions_ = 0;

    SyncStats stats_;
};

}  // namespace tablepub
