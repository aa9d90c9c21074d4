#include "relay/sequencer.hpp"

#include "common/error.hpp"
#include "tablepub.pb.h"

namespace tablepub {

Sequencer::Sequencer(Sink sink, Resolver resolver, TransactionSink on_transaction)
    : sink_(std::move(sink)), resolver_(std::move(resolver)), on_transaction_(std::move(on_transaction)) {}

void Sequencer::load(std::vector<StreamState> streams, std::uint64_t last_position) {
    last_position_ = last_position;
    sent_position_ = last_position;
    tx_range_count_ = 0;
    streams_.clear();
    entries_.clear();
    in_tx_.clear();
    touched_.clear();
    in_transaction_ = false;
    for (auto& s : streams) {
        const auto relid = s.relid;
        entries_[relid].sent_seq = s.last_seq;
        streams_.emplace(relid, std::move(s));
    }
}

void Sequencer::begin_batch(std::int64_t commit_time, bool numbered) {
    commit_time_ = commit_time;
    numbered_ = numbered;
    tx_range_count_ = 0;
    for (const auto relid : touched_) {
        auto& e = entries_[relid];
        e.batch_first_seq = 0;
        e.batch_transactions = 0;
    }
    touched_.clear();
    in_tx_.clear();
    in_transaction_ = false;
}

StreamState& Sequencer::stream_for(std::uint32_t relid) {
    auto it = streams_.find(relid);
    if (it != streams_.end()) return it->second;
    // A table whose first message is not a SCHEMA (its SCHEMA change was
    // cleaned from the outbox before any relay ran): name it from the catalog.
    auto [schema_name, table_name] = resolver_(relid);
    StreamState s;
    s.relid = relid;
    s.schema_name = std::move(schema_name);
    s.table_name = std::move(table_name);
    return streams_.emplace(relid, std::move(s)).first->second;
}

namespace {

// Buffers above this size are released after use rather than kept for the
// next message: a large change must not pin its memory.
constexpr std::size_t KEEP_BUFFER_BYTES = 1 << 20;

void release_if_large(HeadroomBuffer& b) {
    if (b.bytes.capacity() > KEEP_BUFFER_BYTES) b.bytes = std::string();
    b.offset = 0;
}

}  // namespace

void Sequencer::emit(StreamState& s, Pending& p, bool tx_last) {
    MessageHeader h;
    h.schema_name = s.schema_name;
    h.table_name = s.table_name;
    h.seq = p.seq;
    h.txid = p.txid;
    h.tx_last = tx_last;
    h.schema_seq = p.schema_seq;
    h.position = p.position;
    h.commit_time = commit_time_;
    const std::string_view change = p.change.view();
    envelope_.clear();
    encode_message_envelope(envelope_, h, change.size());
    topic_ = make_topic(s.schema_name, s.table_name);
    if (p.change.offset >= envelope_.size()) {
        // A change read with headroom: write the envelope in front of it and
        // hand the whole buffer on, no copy of the change.
        const std::size_t start = p.change.offset - envelope_.size();
        envelope_.copy(p.change.bytes.data() + start, envelope_.size());
        p.change.offset = start;
        sink_(topic_, p.change);
    } else {
        buf_.bytes.clear();
        buf_.offset = 0;
        buf_.bytes.append(envelope_).append(change);
        sink_(topic_, buf_);
        release_if_large(buf_);
    }
    release_if_large(p.change);
    auto& e = entries_[s.relid];
    e.sent_seq = p.seq;
    if (tx_last) ++e.batch_transactions;
    p.present = false;
    ++messages_sent_;
    if (p.moves) record_move(s, p);
}

void Sequencer::record_move(const StreamState& s, const Pending& p) {
    // The SCHEMA message just sent went to the table's new topic: not a
    // former one any more, and every former topic of the table leads there.
    moves_.erase(topic_);
    for (auto& [topic, m] : moves_) {
        if (m.relid != s.relid) continue;
        m.to_schema = s.schema_name;
        m.to_table = s.table_name;
    }
    TopicMove m{s.relid, p.from_schema, p.from_table, s.schema_name, s.table_name, p.seq};
    moves_[make_topic(p.from_schema, p.from_table)] = m;
    new_moves_.push_back(std::move(m));
}

void Sequencer::load_moves(std::vector<TopicMove> moves) {
    for (auto& m : moves) {
        auto topic = make_topic(m.schema_name, m.table_name);
        moves_.try_emplace(std::move(topic), std::move(m));
    }
}

std::vector<TopicMove> Sequencer::take_new_moves() {
    // Only moves that still hold, as they hold now: a table renamed there
    // and back since the last call (t -> u -> t in one transaction) did not
    // leave t, and a notice on t would stop its subscribers (and resync
    // them) for a table that publishes on t as before; one renamed twice
    // (t -> u -> v) tells t where it is now.
    std::vector<TopicMove> out;
    for (const auto& m : new_moves_) {
        const auto it = moves_.find(make_topic(m.schema_name, m.table_name));
        if (it == moves_.end() || it->second.relid != m.relid || it->second.seq != m.seq) continue;
        out.push_back(it->second);
    }
    new_moves_.clear();
    return out;
}

void Sequencer::end_transaction() {
    for (const auto relid : in_tx_) {
        auto& p = entries_[relid].pending;
        if (p.present) emit(streams_.at(relid), p, true);
    }
    in_tx_.clear();
    in_transaction_ = false;
    if (!numbered_) return;
    sent_position_ = cur_position_;
    if (!reporting_) return;
    tx_end_.position = cur_position_;
    tx_end_.txid = cur_txid_;
    tx_end_.commit_time = commit_time_;
    tx_end_.tables.clear();
    for (std::size_t i = 0; i < tx_range_count_; ++i) {
        const auto& r = tx_ranges_[i];
        tx_end_.tables.push_back(TransactionRange{r.schema_name, r.table_name, r.first_seq, r.last_seq});
    }
    on_transaction_(tx_end_);
}

void Sequencer::add(std::uint32_t relid, std::uint64_t txid, std::string_view change) {
    Pending& p = admit(relid, txid, change);
    p.change.bytes.assign(change);
    p.change.offset = 0;
}

void Sequencer::add(std::uint32_t relid, std::uint64_t txid, HeadroomBuffer&& change) {
    Pending& p = admit(relid, txid, change.view());
    p.change = std::move(change);
}

Sequencer::Pending& Sequencer::admit(std::uint32_t relid, std::uint64_t txid, std::string_view change) {
    if (in_transaction_ && txid != cur_txid_) end_transaction();
    if (!in_transaction_) {
        // A new transaction: the next commit position.
        cur_position_ = numbered_ ? ++last_position_ : 0;
        ++tx_serial_;
        tx_range_count_ = 0;
        reporting_ = report_next_ && numbered_ && on_transaction_;
    }
    cur_txid_ = txid;
    in_transaction_ = true;

    StreamState& s = stream_for(relid);
    Entry& e = entries_[relid];
    const ChangeOp op = peek_op(change);
    const std::uint64_t seq = s.last_seq + 1;
    bool moves = false;
    bool renamed = false;
    std::string from_schema, from_table;

    // A newer message of this table in this transaction: the held one is not last.
    if (e.pending.present) {
        emit(s, e.pending, false);
    } else {
        in_tx_.push_back(relid);
    }
    if (e.batch_first_seq == 0) {
        e.batch_first_seq = seq;
        e.batch_prev_schema_seq = s.schema_seq;
        touched_.push_back(relid);
    }

    if (op == ChangeOp::schema) {
        v1::Change parsed;
        if (!parsed.ParseFromArray(change.data(), static_cast<int>(change.size()))) {
            throw Error("malformed SCHEMA change for table oid " + std::to_string(relid));
        }
        const auto& ts = parsed.schema();
        // (A stream's first message names it; it moves from nowhere.)
        moves = s.last_seq > 0 && !ts.table_name().empty() &&
                (ts.schema_name() != s.schema_name || ts.table_name() != s.table_name);
        if (moves) {
            from_schema = s.schema_name;
            from_table = s.table_name;
        }
        if (!ts.table_name().empty()) {
            renamed = ts.schema_name() != s.schema_name || ts.table_name() != s.table_name;
            s.schema_name = ts.schema_name();
            s.table_name = ts.table_name();
        }
        s.schema = ts.SerializeAsString();
        s.schema_seq = seq;
        s.published = true;
    } else if (op == ChangeOp::unpublish) {
        s.published = false;
    }
    s.last_seq = seq;

    // The transaction's range of this table on its topic (a rename starts
    // another one: the messages from the SCHEMA on go to the new topic),
    // kept only when its end is reported.
    if (reporting_ && e.tx_serial == tx_serial_ && e.tx_range > 0 && !renamed) {
        tx_ranges_[e.tx_range - 1].last_seq = seq;
    } else if (reporting_) {
        // Earlier transactions' entries are reused: no allocation per
        // transaction once the names fit.
        if (tx_range_count_ == tx_ranges_.size()) tx_ranges_.emplace_back();
        auto& r = tx_ranges_[tx_range_count_++];
        r.schema_name.assign(s.schema_name);
        r.table_name.assign(s.table_name);
        r.first_seq = r.last_seq = seq;
        e.tx_range = tx_range_count_;
        e.tx_serial = tx_serial_;
    }

    e.pending.present = true;
    e.pending.position = cur_position_;
    e.pending.seq = seq;
    e.pending.txid = txid;
    e.pending.schema_seq = s.schema_seq;
    e.pending.moves = moves;
    e.pending.from_schema = std::move(from_schema);
    e.pending.from_table = std::move(from_table);
    return e.pending;
}

void Sequencer::end_batch() {
    if (in_transaction_) end_transaction();
}

std::vector<StreamUpdate> Sequencer::batch_updates() const {
    std::vector<StreamUpdate> out;
    out.reserve(touched_.size());
    for (const auto relid : touched_) {
        const auto& e = entries_.at(relid);
        out.push_back(
            StreamUpdate{streams_.at(relid), e.batch_first_seq, e.batch_prev_schema_seq, e.batch_transactions});
    }
    return out;
}

std::uint64_t Sequencer::sent_seq(std::uint32_t relid) const {
    const auto it = entries_.find(relid);
    return it == entries_.end() ? 0 : it->second.sent_seq;
}

}  // namespace tablepub
