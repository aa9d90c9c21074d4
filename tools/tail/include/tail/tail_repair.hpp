#pragma once

// tablepub-tail's raw mode with --snapshot-endpoint: the stream of every
// table in seq order, each message once, with what ZeroMQ dropped (a
// reader slower than the relay overflows its --send-hwm) fetched again by
// replay (docs/protocol.md section 6). A pure state machine: the caller
// feeds it live messages and replies, sends the requests it asks for, and
// prints what it hands to `print`.
//
// Per table it keeps `last` (the highest seq printed, or given up as lost)
// and `latest` (the highest announced). A message with seq last + 1 is
// printed at once; a later one is held in a buffer and a replay from
// last + 1 is requested (to_seq 0: everything durable, so that one replay
// catches up a whole backlog instead of one replay per hole). Replayed
// messages and then the buffer are printed in seq order; duplicates are
// dropped. When the relay cannot replay (GONE: the messages left its
// retention window; the table is unknown, forbidden, too large; no reply
// after several attempts) the missing range is handed to `lost` and the
// stream continues after it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tail/tail_gaps.hpp"

namespace tablepub {

namespace v1 {
class Message;
class Reply;
class Request;
}  // namespace v1

struct TailRepairOptions {
    // Live messages held (serialized size + 64 bytes each, over every
    // table) while a replay is under way. Beyond it a live message is
    // dropped: it is fetched again by the next replay.
    std::size_t max_buffered_bytes = 64u << 20;
    std::uint32_t credit = 16;  // replay chunks in flight
    // A stream without a reply for this long is cancelled and asked again
    // on a new connection.
    std::chrono::milliseconds request_timeout{10'000};
    // Delay before asking again after a replay that brought nothing new
    // (not yet durable). After no reply, UNAVAILABLE, BUSY or TIMEOUT (the
    // relay is down, restarting or busy) the delay grows by this much each
    // time, up to 10 times it, and the tail keeps asking: the gap is never
    // given up for it (as the libraries; docs/protocol.md section 9).
    std::chrono::milliseconds retry_delay{500};
    // Requests in a row that bring nothing new before the gap is given up
    // (a replay that finds nothing durable yet counts only while the
    // table's stream stands still: a relay publishing a large batch makes
    // it durable at the batch's end); transient answers do not count.
    unsigned max_attempts = 5;
    // Heartbeats in a row below the table's position after which its
    // stream counts as reset (a restored database: seqs start again), and
    // the seqs it will take for duplicates are reported lost.
    unsigned regression_heartbeats = 3;
};

struct TailRepairStats {
    std::uint64_t replays = 0;           // replay requests sent
    std::uint64_t replayed = 0;          // messages printed from replays
    std::uint64_t duplicates = 0;        // messages dropped as already printed
    std::uint64_t dropped = 0;           // live messages dropped because the buffer was full
    std::uint64_t lost_gaps = 0;         // ranges given up
    std::uint64_t lost_messages = 0;     // seqs in them
    std::size_t max_buffered_bytes = 0;  // high-water mark of the buffer
};

class TailRepair {
public:
    using Clock = std::chrono::steady_clock;
    struct Sink {
        // A message in seq order (heartbeats when they announce nothing
        // unprinted); topic is the table's topic.
        std::function<void(std::string_view topic, const v1::Message&)> print;
        // A range that will never be printed, and why.
        std::function<void(const TailGap&, const std::string& why)> lost;
    };

    TailRepair(TailRepairOptions options, Sink sink);

    // A message from the PUB socket; body is its serialized form (kept
    // while it waits in the buffer).
    void on_live(std::string_view topic, const v1::Message& msg, std::string_view body, Clock::time_point now);
    // A reply from the snapshot endpoint.
    void on_reply(const v1::Reply& reply, Clock::time_point now);
    // Timeouts and delayed retries; call every 100 ms or so.
    void tick(Clock::time_point now);
    // Replay requests, credit grants and cancels to send, in order.
    [[nodiscard]] std::vector<v1::Request> take_requests();
    // True once after a request timed out: the caller should open a new
    // connection to the snapshot endpoint (the relay may be gone).
    [[nodiscard]] bool take_reconnect() noexcept;
    // Gives up every gap still open (the tail is exiting): each goes to
    // `lost` with `why`.
    void give_up_all(const std::string& why, Clock::time_point now);

    [[nodiscard]] bool idle() const noexcept;  // no gap open, no replay pending or scheduled
    [[nodiscard]] const TailRepairStats& stats() const noexcept { return stats_; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept { return buffered_bytes_; }

private:
    struct Topic {
        std::string name;                     // the topic
        std::string schema_name, table_name;  // to ask under (MOVED changes them)
        std::uint64_t last = 0;
        std::uint64_t latest = 0;
        std::map<std::uint64_t, std::string> buffer;  // serialized messages by seq, all > last
        std::uint64_t request_id = 0;                 // replay in flight, 0: none
        Clock::time_point last_activity{};
        std::optional<Clock::time_point> retry_at;
        unsigned attempts = 0;                // requests since the last progress
        unsigned transient = 0;               // "not now" answers (or none) in a row
        std::uint64_t last_at_request = 0;    // `last` when the replay in flight was asked for
        std::uint64_t latest_at_request = 0;  // `latest` then
        unsigned regressions = 0;             // heartbeats in a row below `last`
    };

    Topic& topic_for(std::string_view topic, const v1::Message& msg, bool& fresh);
    void accept(Topic& t, const v1::Message& msg, bool replayed);
    void hold(Topic& t, const v1::Message& msg, std::string_view body);
    void drain(Topic& t);
    [[nodiscard]] bool has_gap(const Topic& t) const noexcept;
    [[nodiscard]] std::uint64_t gap_end(const Topic& t) const noexcept;
    void request(Topic& t, Clock::time_point now);
    void after_attempt(Topic& t, const std::string& why, Clock::time_point now);
    void after_transient(Topic& t, Clock::time_point now);
    void finish(Topic& t, Clock::time_point now);
    void give_up(Topic& t, const std::string& why, Clock::time_point now, bool follow);
    void cancel(Topic& t);

    TailRepairOptions options_;
    Sink sink_;
    std::map<std::string, Topic, std::less<>> topics_;
    std::map<std::uint64_t, std::string> requests_;  // request id -> topic
    std::vector<v1::Request> outbox_;
    std::size_t buffered_bytes_ = 0;
    bool reconnect_ = false;
    std::uint64_t next_id_ = 0;
    TailRepairStats stats_;
};

}  // namespace tablepub
