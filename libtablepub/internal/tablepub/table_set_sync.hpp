// Keeping a set of tables in sync as one unit: one multi-table snapshot,
// then whole transactions in commit order across the tables, as a pure
// state machine with no I/O (docs/protocol.md section 9, "Several tables as
// one unit"). The read view (mirrors) only ever changes by a whole
// transaction or a whole snapshot of the set. SetSubscriber feeds it; unit
// tests drive it directly.
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
#include <vector>

#include "tablepub.pb.h"
#include "tablepub/backoff.hpp"
#include "tablepub/callback_error.hpp"
#include "tablepub/mirror.hpp"
#include "tablepub/pg_snapshot.hpp"
#include "tablepub/set_types.hpp"

namespace tablepub {

// The topic of the Transaction messages (docs/protocol.md section 4).
inline constexpr const char* transaction_topic = ".tx";
// The most tables one snapshot request may name (docs/protocol.md section
// 5, "Several tables in one snapshot"), so the most a set may have.
inline constexpr std::size_t max_set_tables = 32;

// One committed transaction as the engine reports it: the wire messages
// of the set's tables ("schema.table", message), table by table in the
// order the Transaction lists them, each in seq order. SetSubscriber turns
// it into a SetTransaction (plain types) for its users.
struct SetWireTransaction {
    std::uint64_t position = 0;
    std::uint64_t txid = 0;
    std::int64_t commit_time = 0;  // microseconds since 1970-01-01 UTC
    std::vector<std::pair<std::string, v1::Message>> changes;
};

// Called synchronously, after the read view changed.
struct SetSyncCallbacks {
    std::function<void(const SetWireTransaction&)> on_transaction;
    std::function<void(std::uint64_t position)> on_snapshot;
    std::function<void(SetState from, SetState to, const std::string& why)> on_state;
};

class TableSetSync {
public:
    using Clock = std::chrono::steady_clock;

    // `tables` as "schema.table", 1 to max_set_tables of them, no
    // duplicates; throws std::invalid_argument otherwise.
    TableSetSync(std::vector<std::string> tables, SetOptions options = {}, SetSyncCallbacks callbacks = {});

    [[nodiscard]] const std::vector<std::string>& tables() const noexcept { return names_; }

    // Asks for the first snapshot. Call after subscribing to the tables and ".tx".
    void start(Clock::time_point now);
    // A message from the PUB socket on `topic` (a table of the set or ".tx").
    void on_message(const std::string& topic, const v1::Message& msg, Clock::time_point now);
    // A reply on the snapshot endpoint; ignored unless it answers the request in progress.
    void on_reply(const v1::Reply& reply, Clock::time_point now);
    void on_request_failed(std::uint64_t request_id, const std::string& why, Clock::time_point now);
    // Fires delayed retries. Call at least every retry_delay.
    void tick(Clock::time_point now);

    // The request to send next, if any (the caller adds credit); it
    // supersedes the previous one, which the caller should cancel.
    [[nodiscard]] std::optional<v1::Request> take_request();
    [[nodiscard]] std::uint64_t pending_request_id() const noexcept { return pending_id_; }

    [[nodiscard]] SetState state() const noexcept { return state_; }
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    // State moved: the renamed table's name now ("schema.table").
    [[nodiscard]] const std::string& moved_to() const noexcept { return moved_to_; }
    // Position of the last transaction the read view contains.
    [[nodiscard]] std::uint64_t position() const noexcept { return applied_; }
    // Highest position announced by the relay.
    [[nodiscard]] std::uint64_t latest_position() const noexcept { return latest_; }
    // Lag in transactions: announced but not yet in the read view.
    [[nodiscard]] std::uint64_t lag() const noexcept { return latest_ > applied_ ? latest_ - applied_ : 0; }
    // Commit time of the last transaction applied (0 before any).
    [[nodiscard]] std::int64_t commit_time() const noexcept { return commit_time_; }
    // Lag in time: `now` minus the commit time of the last transaction
    // applied while some are known to be missing; zero when caught up.
    [[nodiscard]] std::chrono::microseconds lag_time(std::chrono::system_clock::time_point now) const noexcept;
    [[nodiscard]] bool stale(Clock::time_point now) const noexcept;

    // The read view of one table (nullptr for a table not in the set).
    [[nodiscard]] const Mirror* mirror(const std::string& table) const;
    [[nodiscard]] const v1::TableSchema* schema(const std::string& table) const;
    // Last seq of the table the read view contains.
    [[nodiscard]] std::uint64_t last_seq(const std::string& table) const;
    [[nodiscard]] const std::optional<PgSnapshot>& snapshot() const noexcept { return filter_; }
    [[nodiscard]] std::uint64_t snapshot_position() const noexcept { return snap_position_; }
    // The endpoint group the set follows: that of the last snapshot begun
    // (SnapshotBegin.group; empty from older relays), unset before any.
    [[nodiscard]] const std::optional<std::string>& group() const noexcept { return group_; }
    // Messages and Transactions held until their transaction is complete.
    [[nodiscard]] std::size_t buffered() const noexcept;
    // When the delayed retry fires (nothing scheduled: none); what it asks
    // is decided then.
    [[nodiscard]] const std::optional<Clock::time_point>& retry_at() const noexcept { return retry_at_; }
    [[nodiscard]] const SetStats& stats() const noexcept { return stats_; }
    // A callback threw during the last calls: the engine went on as if it
    // had returned (the change stays applied). take_callback_error() hands
    // the first such exception over, once.
    [[nodiscard]] bool callback_failed() const noexcept { return callback_error_.failed(); }
    [[nodiscard]] std::exception_ptr take_callback_error() noexcept { return callback_error_.take(); }

private:
    struct Table {
        std::string schema_name, table_name;
        std::uint64_t last_seq = 0;
        std::uint64_t latest_seq = 0;
        std::map<std::uint64_t, v1::Message> buffer;
        Mirror mirror;
        v1::TableSchema schema;
    };
    // No default member initializers: clang (libc++ and libstdc++) decides
    // std::optional<Staging>'s emplace() is not callable when they are used
    // before the enclosing class is complete; emplace() value-initializes.
    struct Staging {
        std::size_t index;  // table being received
        bool begun;
        std::uint64_t rows;
        v1::SnapshotBegin first;  // header of table 0
        std::vector<Mirror> mirrors;
        std::vector<v1::SnapshotBegin> begins;
    };
    enum class Pending { none, snapshot, replay };

    void set_state(SetState s, const std::string& why);
    void request_snapshot();
    void request_replay(const std::string& schema_name, const std::string& table_name, std::uint64_t from,
                        std::uint64_t to);
    void resync(const std::string& why);
    // A table of the set was renamed: the set stops, keeping its view.
    void stop_moved(std::string to, const std::string& why);
    void retry_later(Pending what, std::chrono::milliseconds delay, Clock::time_point now);
    // A "not now" answer (or none) to the request in progress: ask it again
    // later, waiting longer each time; never a resync.
    void retry_transient(Pending what, Clock::time_point now);
    void on_snapshot_reply(const v1::Reply& reply, Clock::time_point now);
    void on_replay_end(Clock::time_point now);
    void on_error(const v1::Error& err, Clock::time_point now);
    void take_message(const std::string& topic, const v1::Message& msg, bool live);
    // From now on only Transactions of this group are taken (and those
    // held of another one are forgotten).
    void pin_group(const std::string& group);
    void drain();
    // Applies (or skips) the Transaction at applied_ + 1; false when it is
    // missing or incomplete.
    bool step();
    // msgs point into the buffers; applied, they are moved out (step()
    // erases them then).
    bool apply_new(const v1::Message& tx, const std::vector<std::pair<Table*, v1::Message*>>& msgs);
    void check_complete(Clock::time_point now);
    // The most seqs or positions one replay asks for.
    [[nodiscard]] std::uint64_t replay_chunk() const noexcept;
    [[nodiscard]] Table* find(const std::string& topic);
    [[nodiscard]] const Table* find(const std::string& topic) const;
    // The set's table of these names. Two tables can share a topic
    // (s."t.u" and "s.t".u are both "s.t.u"): a message or a Transaction's
    // range names its table by both names, and only both tell them apart.
    [[nodiscard]] Table* find(const std::string& schema_name, const std::string& table_name);

    std::vector<std::string> names_;
    std::map<std::string, Table> tables_;  // by topic
    SetOptions options_;
    SetSyncCallbacks callbacks_;
    CallbackError callback_error_;
    template <class F, class... Args>
    void notify(const F& f, Args&&... args) noexcept {
        callback_error_.call(f, std::forward<Args>(args)...);
    }

    SetState state_ = SetState::syncing;
    std::string moved_to_;
    std::string reason_;
    Pending pending_ = Pending::none;
    std::uint64_t pending_id_ = 0;
    std::optional<v1::Request> outbox_;
    std::optional<Clock::time_point> retry_at_;
    Pending retry_what_ = Pending::none;
    std::optional<Staging> staging_;
    unsigned replay_attempts_ = 0;
    // Requests in a row answered "not now" (no reply, UNAVAILABLE, BUSY,
    // TIMEOUT, INTERNAL): the retry waits retry_delay times this, at most
    // kMaxBackoffSteps times (backoff.hpp).
    unsigned transient_failures_ = 0;
    std::string replay_topic_;  // what the replay in progress fetches (a table or ".tx")
    // The seqs (positions for ".tx") it asked for: a reply's messages
    // outside them are not held (a relay must not grow our buffers).
    std::uint64_t replay_from_ = 0, replay_to_ = 0;
    bool replay_new_ = false;  // it brought something not buffered before

    std::optional<PgSnapshot> filter_;
    std::uint64_t snap_position_ = 0;
    std::uint64_t applied_ = 0;
    std::uint64_t latest_ = 0;
    std::int64_t commit_time_ = 0;
    std::map<std::uint64_t, v1::Message> tx_buffer_;  // Transaction messages by position
    // The group of the snapshot endpoint: a set connected to the publish
    // endpoints of several groups hears a Transaction of each per position,
    // each listing only its group's tables (docs/protocol.md section 9).
    std::optional<std::string> group_;

    Clock::time_point last_heard_{};
    std::uint64_t heartbeat_ms_ = 0;
    unsigned regressions_ = 0;

    SetStats stats_;
};

}  // namespace tablepub
