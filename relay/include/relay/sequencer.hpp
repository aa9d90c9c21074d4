#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/wire.hpp"

namespace tablepub {

// The message stream of one table, as stored in tablepub.relay_stream.
struct StreamState {
    std::uint32_t relid = 0;
    std::string schema_name;
    std::string table_name;
    std::uint64_t last_seq = 0;    // last number assigned
    std::uint64_t schema_seq = 0;  // seq of the last SCHEMA message
    std::string schema;            // serialized TableSchema of that message
    bool published = true;
};

// What one batch did to one stream: stored when the batch is marked done.
struct StreamUpdate {
    StreamState state;
    std::uint64_t first_seq = 0;
    std::uint64_t prev_schema_seq = 0;  // the stream's schema_seq before first_seq
    std::uint64_t transactions = 0;     // messages sent with tx_last (for metrics)
};

// A table's former topic after a rename: subscribers of it are told the new
// topic and the seq of the SCHEMA message that moved the table off it.
struct TopicMove {
    std::uint32_t relid = 0;
    std::string schema_name;  // the former topic
    std::string table_name;
    std::string to_schema;  // the table's topic now
    std::string to_table;
    std::uint64_t seq = 0;  // the SCHEMA message that left the former topic
};

// The end of one published transaction: what its Transaction message on
// the topic ".tx" says (docs/protocol.md, "Commit order").
struct TransactionEnd {
    std::uint64_t position = 0;
    std::uint64_t txid = 0;
    std::int64_t commit_time = 0;  // microseconds since the epoch
    // Per table, in the order of its first change: the topic and seq range
    // of its messages (a table renamed inside the transaction has one range
    // per topic). The names point into the sequencer: valid during the call.
    std::vector<TransactionRange> tables;
};

// Turns the ordered changes of a batch into published messages: assigns each
// table's next sequence number and each transaction the next commit
// position, sets tx_last on the last message of a transaction for a table
// (holding back one message per table to know it), reports the end of every
// transaction after its last message, follows SCHEMA (topic, schema_seq)
// and UNPUBLISH. Pure logic: the output depends only on the loaded streams,
// position and commit time and the input, so a redone batch produces
// identical bytes.
class Sequencer {
public:
    // The sink may take message.bytes over (zero-copy send of a large message).
    using Sink = std::function<void(std::string_view topic, HeadroomBuffer& message)>;
    // Names a table the sequencer has no stream for (schema, table).
    using Resolver = std::function<std::pair<std::string, std::string>(std::uint32_t relid)>;
    // Called after the last message of every transaction (none: not reported).
    using TransactionSink = std::function<void(const TransactionEnd& tx)>;

    Sequencer(Sink sink, Resolver resolver, TransactionSink on_transaction = {});

    // Replaces every stream and the last commit position (at startup and
    // whenever the durable state may have moved: reconnect, takeover).
    void load(std::vector<StreamState> streams, std::uint64_t last_position = 0);
    // Starts a batch: forgets the previous batch's updates. commit_time:
    // what every message of the batch carries (relay_batch.snap_time).
    // numbered false: a batch published before extension 0.3, whose
    // transactions had no position (0, and no end reported).
    void begin_batch(std::int64_t commit_time = 0, bool numbered = true);
    // The position the next transaction takes, instead of the last one + 1
    // (a replay of some tables of a batch skips the other tables'
    // transactions). Ignored in a batch that is not numbered.
    void next_position(std::uint64_t position) noexcept { last_position_ = position - 1; }
    // Whether the ends of the transactions that start from now on are
    // reported to the TransactionSink (default true). false while nobody
    // takes them (no subscriber of ".tx"): their ranges are not even kept.
    // Positions are assigned either way.
    void report_transactions(bool on) noexcept { report_next_ = on; }
    // One outbox row, in batch order.
    void add(std::uint32_t relid, std::uint64_t txid, std::string_view change);
    // The same for a large change read into a buffer of its own, with
    // MESSAGE_HEADROOM bytes in front: its message is built in place.
    void add(std::uint32_t relid, std::uint64_t txid, HeadroomBuffer&& change);
    // The stream of a table (named by the resolver when first seen).
    const StreamState& stream(std::uint32_t relid) { return stream_for(relid); }
    // Ends the batch: flushes the held-back messages with tx_last.
    void end_batch();
    // Streams changed by the batch, in first-touched order.
    [[nodiscard]] std::vector<StreamUpdate> batch_updates() const;

    [[nodiscard]] const std::unordered_map<std::uint32_t, StreamState>& streams() const noexcept { return streams_; }
    // The last seq actually handed to the sink per table (heartbeats must
    // not announce a held-back message).
    [[nodiscard]] std::uint64_t sent_seq(std::uint32_t relid) const;
    [[nodiscard]] std::uint64_t messages_sent() const noexcept { return messages_sent_; }
    // The last commit position assigned (the batch's last one once ended).
    [[nodiscard]] std::uint64_t last_position() const noexcept { return last_position_; }
    // The position of the last transaction whose end was reported: every
    // message of it and of those before it went out.
    [[nodiscard]] std::uint64_t sent_position() const noexcept { return sent_position_; }
    // Every former topic of a table renamed since this sequencer was made
    // (kept across load()), by former topic; a topic a table takes again is
    // no longer a former one. Only moves whose SCHEMA message was sent.
    [[nodiscard]] const std::map<std::string, TopicMove>& moves() const noexcept { return moves_; }
    // Moves recorded since the last call that still hold (to announce and
    // store them), with their current destination.
    [[nodiscard]] std::vector<TopicMove> take_new_moves();
    // Adds stored moves (at startup); a move this sequencer saw wins.
    void load_moves(std::vector<TopicMove> moves);

private:
    struct Pending {
        bool present = false;
        std::uint64_t seq = 0;
        std::uint64_t txid = 0;
        std::uint64_t schema_seq = 0;
        std::uint64_t position = 0;
        HeadroomBuffer change;
        // A SCHEMA message that renames the table: its former topic.
        bool moves = false;
        std::string from_schema, from_table;
    };
    struct Entry {
        Pending pending;
        std::uint64_t sent_seq = 0;
        std::uint64_t batch_first_seq = 0;  // 0: untouched in this batch
        std::uint64_t batch_prev_schema_seq = 0;
        std::uint64_t batch_transactions = 0;
        // 1 + index in tx_ranges_ of this table's current range, when
        // tx_serial is the current transaction's.
        std::size_t tx_range = 0;
        std::uint64_t tx_serial = 0;
    };
    // A table's messages in the current transaction, on one topic.
    struct OwnedRange {
        std::string schema_name, table_name;
        std::uint64_t first_seq = 0, last_seq = 0;
    };

    StreamState& stream_for(std::uint32_t relid);
    // Numbers a change and holds it back (the caller stores its bytes).
    Pending& admit(std::uint32_t relid, std::uint64_t txid, std::string_view change);
    void emit(StreamState& s, Pending& p, bool tx_last);
    void end_transaction();
    void record_move(const StreamState& s, const Pending& p);

    Sink sink_;
    Resolver resolver_;
    TransactionSink on_transaction_;
    std::uint64_t last_position_ = 0;
    std::uint64_t sent_position_ = 0;
    std::uint64_t cur_position_ = 0;
    std::uint64_t tx_serial_ = 0;  // counts transactions, never reset
    std::int64_t commit_time_ = 0;
    bool numbered_ = true;
    bool report_next_ = true;
    bool reporting_ = false;             // the current transaction's end is reported
    std::vector<OwnedRange> tx_ranges_;  // the first tx_range_count_ are the transaction's
    std::size_t tx_range_count_ = 0;
    TransactionEnd tx_end_;
    std::unordered_map<std::uint32_t, StreamState> streams_;
    std::unordered_map<std::uint32_t, Entry> entries_;
    std::vector<std::uint32_t> in_tx_;    // tables with a held-back message
    std::vector<std::uint32_t> touched_;  // tables touched in this batch
    std::uint64_t cur_txid_ = 0;
    bool in_transaction_ = false;
    HeadroomBuffer buf_;
    std::string envelope_;
    std::string topic_;
    std::uint64_t messages_sent_ = 0;
    std::map<std::string, TopicMove> moves_;
    std::vector<TopicMove> new_moves_;
};

}  // namespace tablepub
