// Keeping one table in sync: snapshot + deltas, duplicates, gaps, replay and
// resync, as a pure state machine with no I/O (docs/protocol.md, section
// "The subscriber algorithm"). The Subscriber feeds it messages and replies
// and sends the requests it asks for; unit tests drive it directly.
// Not installed (it holds generated wire types by value): the installed
// API is tablepub/subscriber.hpp; tablepub-tail, the tests and the fuzzers
// use this header from the source tree.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "tablepub.pb.h"
#include "tablepub/backoff.hpp"
#include "tablepub/callback_error.hpp"
#include "tablepub/mirror.hpp"
#include "tablepub/pg_snapshot.hpp"
#include "tablepub/sync_types.hpp"

namespace tablepub {

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
    // A callback threw during the last calls: the engine went on as if it
    // had returned (the change stays applied). take_callback_error() hands
    // the first such exception over, once.
    [[nodiscard]] bool callback_failed() const noexcept { return callback_error_.failed(); }
    [[nodiscard]] std::exception_ptr take_callback_error() noexcept { return callback_error_.take(); }

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
    CallbackError callback_error_;
    template <class F, class... Args>
    void notify(const F& f, Args&&... args) noexcept {
        callback_error_.call(f, std::forward<Args>(args)...);
    }

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
    // Replay requests in a row that got a transient answer: the retry waits
    // retry_delay times this, at most kMaxBackoffSteps times (backoff.hpp).
    unsigned transient_failures_ = 0;
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
