#include "tablepub/table_set_sync.hpp"

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace tablepub {

namespace {

// Unique in the process (a set's requests never share a stream id with
// another set's on one DEALER).
std::uint64_t next_request_id() noexcept {
    static std::atomic<std::uint64_t> counter{std::uint64_t{1} << 62};
    return ++counter;
}

// Whether `next` only drops columns of `prev` (same names, types and key
// positions otherwise): then the rows stay right without a snapshot.
bool schema_subset(const v1::TableSchema& prev, const v1::TableSchema& next, std::set<std::string>& dropped) {
    if (prev.columns().empty()) return false;
    std::map<std::string, const v1::ColumnSchema*> old_cols;
    for (const auto& c : prev.columns()) {
        old_cols[c.name()] = &c;
        dropped.insert(c.name());
    }
    for (const auto& c : next.columns()) {
        auto it = old_cols.find(c.name());
        if (it == old_cols.end() || it->second->type_oid() != c.type_oid() ||
            it->second->key_position() != c.key_position())
            return false;
        dropped.erase(c.name());
    }
    return true;
}

// Decides whether a transaction's data changes fit the rows without
// touching them, so that a change that does not fit leaves the read view at
// the previous transaction boundary: keys the transaction inserted or
// removed so far override what the mirror holds.
class FitCheck {
public:
    explicit FitCheck(const Mirror& m) : mirror_(m) {}

    Mirror::Apply check(const v1::Change& ch) {
        switch (ch.op()) {
            case v1::INSERT: {
                if (ch.key().empty()) return Mirror::Apply::no_key;
                if (present(ch.key())) return Mirror::Apply::insert_existing;
                overlay_[Mirror::encode_key(ch.key())] = true;
                return Mirror::Apply::ok;
            }
            case v1::UPDATE: {
                if (ch.key().empty()) return Mirror::Apply::no_key;
                const bool key_changed = !ch.old_key().empty();
                const auto& from = key_changed ? ch.old_key() : ch.key();
                if (!present(from)) return Mirror::Apply::missing_row;
                if (key_changed) {
                    auto old_k = Mirror::encode_key(from), new_k = Mirror::encode_key(ch.key());
                    if (old_k != new_k && present(ch.key())) return Mirror::Apply::key_collision;
                    overlay_[old_k] = false;
                    overlay_[new_k] = true;
                }
                return Mirror::Apply::ok;
            }
            case v1::DELETE:
                if (ch.key().empty()) return Mirror::Apply::no_key;
                if (!present(ch.key())) return Mirror::Apply::missing_row;
                overlay_[Mirror::encode_key(ch.key())] = false;
                return Mirror::Apply::ok;
            case v1::TRUNCATE:
                truncated_ = true;
                overlay_.clear();
                return Mirror::Apply::ok;
            default: return Mirror::Apply::not_data;
        }
    }

private:
    bool present(const google::protobuf::RepeatedPtrField<v1::Column>& key) const {
        auto it = overlay_.find(Mirror::encode_key(key));
        if (it != overlay_.end()) return it->second;
        return !truncated_ && mirror_.find(key) != nullptr;
    }

    const Mirror& mirror_;
    std::unordered_map<std::string, bool> overlay_;
    bool truncated_ = false;
};

std::string topic_of(const std::string& schema_name, const std::string& table_name) {
    return schema_name + "." + table_name;
}

}  // namespace

const char* to_string(SetState s) noexcept {
    switch (s) {
        case SetState::syncing: return "syncing";
        case SetState::live: return "live";
        case SetState::resyncing: return "resyncing";
        case SetState::failed: return "failed";
        case SetState::moved: return "moved";
    }
    return "?";
}

TableSetSync::TableSetSync(std::vector<std::string> tables, SetOptions options, SetSyncCallbacks callbacks)
    : names_(std::move(tables)), options_(std::move(options)), callbacks_(std::move(callbacks)) {
    if (names_.empty()) throw std::invalid_argument("a table set needs at least one table");
    // One snapshot request names the whole set; the relay refuses more
    // (MALFORMED_REQUEST), and the set would only ever be "failed".
    if (names_.size() > max_set_tables)
        throw std::invalid_argument("a table set has at most " + std::to_string(max_set_tables) + " tables, not " +
                                    std::to_string(names_.size()));
    for (const auto& n : names_) {
        const auto dot = n.find('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == n.size())
            throw std::invalid_argument("table \"" + n + "\" is not of the form schema.table");
        Table t;
        t.schema_name = n.substr(0, dot);
        t.table_name = n.substr(dot + 1);
        if (!tables_.emplace(n, std::move(t)).second) throw std::invalid_argument("table \"" + n + "\" is named twice");
    }
}

TableSetSync::Table* TableSetSync::find(const std::string& topic) {
    auto it = tables_.find(topic);
    return it == tables_.end() ? nullptr : &it->second;
}

const TableSetSync::Table* TableSetSync::find(const std::string& topic) const {
    auto it = tables_.find(topic);
    return it == tables_.end() ? nullptr : &it->second;
}

TableSetSync::Table* TableSetSync::find(const std::string& schema_name, const std::string& table_name) {
    auto* t = find(topic_of(schema_name, table_name));
    return t && t->schema_name == schema_name && t->table_name == table_name ? t : nullptr;
}

const Mirror* TableSetSync::mirror(const std::string& table) const {
    const auto* t = find(table);
    return t ? &t->mirror : nullptr;
}

const v1::TableSchema* TableSetSync::schema(const std::string& table) const {
    const auto* t = find(table);
    return t ? &t->schema : nullptr;
}

std::uint64_t TableSetSync::last_seq(const std::string& table) const {
    const auto* t = find(table);
    return t ? t->last_seq : 0;
}

std::size_t TableSetSync::buffered() const noexcept {
    std::size_t n = tx_buffer_.size();
    for (const auto& [name, t] : tables_) n += t.buffer.size();
    return n;
}

std::chrono::microseconds TableSetSync::lag_time(std::chrono::system_clock::time_point now) const noexcept {
    if (lag() == 0 || commit_time_ == 0) return std::chrono::microseconds(0);
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    return std::chrono::microseconds(std::max<std::int64_t>(0, now_us - commit_time_));
}

bool TableSetSync::stale(Clock::time_point now) const noexcept {
    if (heartbeat_ms_ == 0 || state_ == SetState::moved) return false;
    return now - last_heard_ > std::chrono::milliseconds(heartbeat_ms_ * options_.stale_heartbeats);
}

void TableSetSync::set_state(SetState s, const std::string& why) {
    const auto from = state_;
    state_ = s;
    reason_ = why;
    if (from != s) notify(callbacks_.on_state, from, s, why);
}

void TableSetSync::start(Clock::time_point now) {
    last_heard_ = now;
    request_snapshot();
}

void TableSetSync::request_snapshot() {
    pending_ = Pending::snapshot;
    pending_id_ = next_request_id();
    retry_at_.reset();
    v1::Request req;
    req.set_request_id(pending_id_);
    auto* snap = req.mutable_snapshot();
    for (std::size_t i = 0; i < names_.size(); ++i) {
        const auto& t = tables_.at(names_[i]);
        auto cols = options_.columns.find(names_[i]);
        if (i == 0) {
            snap->set_schema_name(t.schema_name);
            snap->set_table_name(t.table_name);
            if (cols != options_.columns.end())
                for (const auto& c : cols->second) snap->add_columns(c);
        } else {
            auto* ref = snap->add_more_tables();
            ref->set_schema_name(t.schema_name);
            ref->set_table_name(t.table_name);
            if (cols != options_.columns.end())
                for (const auto& c : cols->second) ref->add_columns(c);
        }
    }
    staging_.emplace();
    staging_->mirrors.resize(names_.size());
    outbox_ = std::move(req);
}

void TableSetSync::request_replay(const std::string& schema_name, const std::string& table_name, std::uint64_t from,
                                  std::uint64_t to) {
    pending_ = Pending::replay;
    pending_id_ = next_request_id();
    replay_topic_ = schema_name.empty() ? transaction_topic : topic_of(schema_name, table_name);
    replay_from_ = from;
    replay_to_ = to;
    replay_new_ = false;
    ++stats_.replays;
    v1::Request req;
    req.set_request_id(pending_id_);
    auto* r = req.mutable_replay();
    r->set_schema_name(schema_name);
    r->set_table_name(table_name);
    r->set_from_seq(from);
    r->set_to_seq(to);
    r->set_transactions(schema_name.empty());
    outbox_ = std::move(req);
}

std::optional<v1::Request> TableSetSync::take_request() {
    auto r = std::move(outbox_);
    outbox_.reset();
    return r;
}

void TableSetSync::resync(const std::string& why) {
    ++stats_.resyncs;
    // Keep serving the old view; forget what the old stream announced (a
    // reset stream announces smaller positions).
    latest_ = applied_;
    regressions_ = 0;
    replay_attempts_ = 0;
    set_state(state_ == SetState::syncing ? SetState::syncing : SetState::resyncing, why);
    request_snapshot();
}

void TableSetSync::stop_moved(std::string to, const std::string& why) {
    // Renames are not followed inside a set (its Transactions would name a
    // table it does not subscribe to), and asking again under the former
    // name only answers MOVED for the retention window: the set stops with
    // the new name, like a table's TableSync, and its last view stays
    // readable. Following the new name is the application's choice.
    pending_ = Pending::none;
    pending_id_ = 0;
    outbox_.reset();
    staging_.reset();
    retry_at_.reset();
    retry_what_ = Pending::none;
    moved_to_ = std::move(to);
    set_state(SetState::moved, why);
}

void TableSetSync::retry_later(Pending what, std::chrono::milliseconds delay, Clock::time_point now) {
    pending_ = Pending::none;
    pending_id_ = 0;
    retry_what_ = what;
    retry_at_ = now + delay;
}

void TableSetSync::retry_transient(Pending what, Clock::time_point now) {
    transient_failures_ = std::min(transient_failures_ + 1, kMaxBackoffSteps);
    retry_later(what, options_.retry_delay * transient_failures_, now);
}

void TableSetSync::tick(Clock::time_point now) {
    if (!retry_at_ || now < *retry_at_) return;
    retry_at_.reset();
    if (retry_what_ == Pending::snapshot)
        request_snapshot();
    else
        check_complete(now);
}

void TableSetSync::take_message(const std::string& topic, const v1::Message& msg, bool live) {
    // Replayed messages are what a waiting transaction needs: never dropped.
    if (live && buffered() >= options_.max_buffered) {
        // A dropped table message makes its range incomplete, a dropped
        // Transaction a gap on ".tx": both are replayed when needed.
        ++stats_.dropped;
        if (topic == transaction_topic && msg.seq() > latest_) latest_ = msg.seq();
        return;
    }
    if (topic == transaction_topic) {
        const auto pos = msg.seq();
        if (pos > latest_) latest_ = pos;
        if (group_ && msg.transaction().group() != *group_) {
            // Another endpoint group's Transaction of this position: it
            // lists only that group's tables, so taking it could apply the
            // transaction without the part of a table it does not carry.
            // The snapshot's group lists every table of the set.
            ++stats_.duplicates;
            return;
        }
        if (pos <= applied_ && state_ == SetState::live) {
            ++stats_.duplicates;
            return;
        }
        if (tx_buffer_.emplace(pos, msg).second)
            replay_new_ = true;
        else
            ++stats_.duplicates;
        return;
    }
    auto* t = find(topic);
    if (!t) return;
    if (msg.seq() > t->latest_seq) t->latest_seq = msg.seq();
    if (msg.seq() <= t->last_seq && state_ == SetState::live) {
        ++stats_.duplicates;
        return;
    }
    if (t->buffer.emplace(msg.seq(), msg).second)
        replay_new_ = true;
    else
        ++stats_.duplicates;
}

void TableSetSync::on_message(const std::string& topic, const v1::Message& msg, Clock::time_point now) {
    const bool tx = topic == transaction_topic;
    // The names as well as the topic: "s.t".u publishes on the topic of
    // s."t.u", and its seqs, heartbeats and notices are not the set's.
    if (state_ == SetState::moved ||
        (!tx && (topic != topic_of(msg.schema_name(), msg.table_name()) || !find(msg.schema_name(), msg.table_name()))))
        return;
    if (tx) last_heard_ = now;
    if (msg.has_heartbeat()) {
        if (tx) {
            heartbeat_ms_ = msg.heartbeat().interval_ms();
            if (msg.seq() > latest_) latest_ = msg.seq();
            if (state_ == SetState::live) {
                // After a relay restart heartbeats lag our position for a
                // moment; for long, the positions were reset.
                if (msg.seq() < applied_) {
                    if (++regressions_ >= options_.regression_heartbeats) {
                        // What we hold is numbered by the old stream: kept,
                        // it would be taken for the new stream's (an old
                        // transaction applied after the new snapshot).
                        tx_buffer_.clear();
                        for (auto& [name, tb] : tables_) tb.buffer.clear();
                        resync("the relay's position " + std::to_string(msg.seq()) + " stays below ours (" +
                               std::to_string(applied_) + ")");
                        return;
                    }
                } else {
                    regressions_ = 0;
                }
            }
        } else {
            auto* t = find(topic);
            const auto& hb = msg.heartbeat();
            if (!hb.moved_to_table().empty()) {
                // The table's changes no longer come on this topic (the
                // Transactions list the new name, which is not in the set):
                // the view would silently stop following it.
                auto to = hb.moved_to_schema() + "." + hb.moved_to_table();
                const auto why = topic + " was renamed to " + to;
                stop_moved(std::move(to), why);
                return;
            }
            if (hb.unpublished()) {
                if (state_ == SetState::live) resync(topic + " is unpublished");
                return;
            }
            if (msg.seq() > t->latest_seq) t->latest_seq = msg.seq();
        }
        check_complete(now);
        return;
    }
    if (tx && !msg.has_transaction()) return;
    take_message(topic, msg, true);
    if (state_ != SetState::live) return;
    drain();
    check_complete(now);
}

void TableSetSync::on_reply(const v1::Reply& reply, Clock::time_point now) {
    if (reply.request_id() == 0 || reply.request_id() != pending_id_) return;
    switch (reply.kind_case()) {
        case v1::Reply::kSnapshotBegin:
        case v1::Reply::kSnapshotRows:
        case v1::Reply::kSnapshotEnd:
            if (pending_ != Pending::snapshot) return;
            transient_failures_ = 0;
            on_snapshot_reply(reply, now);
            return;
        case v1::Reply::kReplayBegin:
            if (pending_ == Pending::replay) transient_failures_ = 0;
            return;
        case v1::Reply::kReplayMessages:
            if (pending_ != Pending::replay) return;
            transient_failures_ = 0;
            // Replayed messages keep the name they were published under:
            // file them under the topic asked for. Only what was asked is
            // held: replayed messages are never dropped, so a relay that
            // sent more (or other seqs) would grow the buffers without
            // bound.
            for (const auto& m : reply.replay_messages().messages()) {
                if (m.has_heartbeat()) continue;
                if (m.seq() < replay_from_ || m.seq() > replay_to_ ||
                    (replay_topic_ == transaction_topic && !m.has_transaction())) {
                    ++stats_.unasked;
                    continue;
                }
                take_message(replay_topic_, m, false);
            }
            drain();
            return;
        case v1::Reply::kReplayEnd:
            if (pending_ == Pending::replay) on_replay_end(now);
            return;
        case v1::Reply::kError: on_error(reply.error(), now); return;
        default: return;
    }
}

void TableSetSync::on_snapshot_reply(const v1::Reply& reply, Clock::time_point now) {
    auto& st = *staging_;
    auto discard = [&](const std::string& why) {
        staging_.reset();
        reason_ = why;
        retry_later(Pending::snapshot, options_.retry_delay, now);
    };
    switch (reply.kind_case()) {
        case v1::Reply::kSnapshotBegin: {
            const auto& b = reply.snapshot_begin();
            if (st.begun || st.index >= names_.size()) return discard("snapshot stream out of order");
            const auto& t = tables_.at(names_[st.index]);
            if (names_.size() > 1 && b.table_count() == 0) {
                // A relay before multi-table snapshots ignores more_tables:
                // asking every 500 ms would stream the first table for ever.
                staging_.reset();
                set_state(SetState::failed, "the relay does not support multi-table snapshots");
                retry_later(Pending::snapshot, options_.failed_retry, now);
                return;
            }
            // A relay before multi-table snapshots sends neither index nor count.
            const bool indexed = b.table_count() != 0 || names_.size() > 1;
            if ((indexed && (b.table_index() != st.index || b.table_count() != names_.size())) ||
                (!b.table_name().empty() && (b.schema_name() != t.schema_name || b.table_name() != t.table_name)))
                return discard("snapshot header names another table");
            if (st.index > 0) {
                const auto& f = st.begins.front();
                if (b.xmin() != f.xmin() || b.xmax() != f.xmax() || b.position() != f.position() ||
                    !std::equal(b.xip().begin(), b.xip().end(), f.xip().begin(), f.xip().end()))
                    return discard("the tables of the snapshot were read in different snapshots");
                if (b.group() != f.group()) return discard("the tables of the snapshot name different groups");
            } else {
                pin_group(b.group());
            }
            st.begun = true;
            st.rows = 0;
            st.begins.push_back(b);
            return;
        }
        case v1::Reply::kSnapshotRows:
            if (!st.begun) return discard("snapshot rows before their header");
            for (const auto& row : reply.snapshot_rows().rows()) {
                (void)st.mirrors[st.index].apply(row);
                ++st.rows;
            }
            return;
        case v1::Reply::kSnapshotEnd:
            if (!st.begun) return discard("snapshot end before its header");
            if (reply.snapshot_end().row_count() != st.rows) return discard("snapshot row count mismatch");
            st.begun = false;
            if (++st.index < names_.size()) return;
            break;
        default: return;
    }

    // The whole set arrived: replace the read view in one step.
    pending_ = Pending::none;
    pending_id_ = 0;
    for (std::size_t i = 0; i < names_.size(); ++i) {
        auto& t = tables_.at(names_[i]);
        const auto& b = st.begins[i];
        t.mirror = std::move(st.mirrors[i]);
        t.schema = b.schema();
        t.last_seq = b.seq();
        t.buffer.erase(t.buffer.begin(), t.buffer.upper_bound(t.last_seq));
    }
    filter_ = PgSnapshot::from(st.begins.front());
    snap_position_ = applied_ = st.begins.front().position();
    tx_buffer_.erase(tx_buffer_.begin(), tx_buffer_.upper_bound(applied_));
    if (!tx_buffer_.empty()) latest_ = std::max(latest_, tx_buffer_.rbegin()->first);
    latest_ = std::max(latest_, applied_);
    commit_time_ = 0;
    regressions_ = 0;
    replay_attempts_ = 0;
    staging_.reset();
    ++stats_.snapshots;
    notify(callbacks_.on_snapshot, applied_);
    set_state(SetState::live,
              "snapshot of " + std::to_string(names_.size()) + " tables at position " + std::to_string(applied_));
    drain();
    check_complete(now);
}

void TableSetSync::on_replay_end(Clock::time_point now) {
    pending_ = Pending::none;
    pending_id_ = 0;
    drain();
    if (state_ != SetState::live || pending_ != Pending::none) return;
    if (tx_buffer_.empty() && latest_ <= applied_) {
        // Nothing is waiting any more (what we asked for came live meanwhile).
        replay_attempts_ = 0;
        return;
    }
    if (replay_new_) {
        replay_attempts_ = 0;
        check_complete(now);
        return;
    }
    // Nothing new: the relay may not have stored the newest messages yet.
    if (++replay_attempts_ >= options_.max_replay_attempts) {
        resync("replays bring nothing new at position " + std::to_string(applied_));
        return;
    }
    retry_later(Pending::replay, options_.retry_delay, now);
}

void TableSetSync::on_error(const v1::Error& err, Clock::time_point now) {
    const auto what = pending_;
    staging_.reset();
    const std::string msg = std::string(v1::ErrorCode_Name(err.code())) + ": " + err.message();
    switch (err.code()) {
        case v1::GONE:
        case v1::TOO_LARGE:
            if (what == Pending::replay) {
                pending_ = Pending::none;
                pending_id_ = 0;
                resync("replay failed: " + msg);
                return;
            }
            break;
        case v1::MOVED: stop_moved(err.moved_to_schema() + "." + err.moved_to_table(), msg); return;
        case v1::BUSY:
        case v1::UNAVAILABLE:
        case v1::TIMEOUT: retry_transient(what, now); return;
        case v1::INTERNAL:
            // A replay the relay fails on may be its data's fault: counted
            // like one that brings nothing (a snapshot may still work).
            if (what == Pending::replay && ++replay_attempts_ >= options_.max_replay_attempts) {
                pending_ = Pending::none;
                pending_id_ = 0;
                resync("replay failed: " + msg);
                return;
            }
            retry_transient(what, now);
            return;
        default: break;
    }
    // The relay refuses the set (or a table of it): the set waits as a
    // whole, asking slowly, and keeps its old view.
    set_state(SetState::failed, msg);
    retry_later(Pending::snapshot, options_.failed_retry, now);
}

void TableSetSync::on_request_failed(std::uint64_t request_id, const std::string& why, Clock::time_point now) {
    if (request_id == 0 || request_id != pending_id_) return;
    const auto what = pending_;
    if (what == Pending::snapshot) staging_.reset();
    reason_ = why;
    retry_transient(what, now);
}

void TableSetSync::pin_group(const std::string& group) {
    if (group_ == group) return;
    group_ = group;
    // Transactions held from another group's endpoint go: the ones of this
    // group come live or by a replay of ".tx" (served with this group's
    // tables, from the same snapshot endpoint).
    for (auto it = tx_buffer_.begin(); it != tx_buffer_.end();) {
        if (it->second.transaction().group() != group)
            it = tx_buffer_.erase(it);
        else
            ++it;
    }
}

void TableSetSync::drain() {
    while (state_ == SetState::live && step()) {
    }
}

bool TableSetSync::step() {
    auto it = tx_buffer_.find(applied_ + 1);
    if (it == tx_buffer_.end()) return false;
    const v1::Message tx = it->second;
    const auto pos = tx.seq();
    const auto& ranges = tx.transaction().tables();

    auto finish = [&] {
        for (const auto& r : ranges) {
            auto* t = find(r.schema_name(), r.table_name());
            if (!t) continue;
            t->last_seq = std::max(t->last_seq, r.last_seq());
            t->buffer.erase(t->buffer.begin(), t->buffer.upper_bound(t->last_seq));
        }
        applied_ = pos;
        tx_buffer_.erase(pos);
    };

    for (int i = 0; i < ranges.size(); ++i) {
        const auto& r = ranges[i];
        const auto topic = topic_of(r.schema_name(), r.table_name());
        if (r.first_seq() == 0 || r.first_seq() > r.last_seq()) {
            // The set would wait for ever for a range no message can fill.
            ++stats_.anomalies;
            resync("the transaction at position " + std::to_string(pos) + " lists an empty range of " + topic);
            return false;
        }
        // A transaction lists a few tables: no set needed to find one twice.
        const auto twice = std::any_of(ranges.begin(), ranges.begin() + i, [&](const auto& q) {
            return q.schema_name() == r.schema_name() && q.table_name() == r.table_name();
        });
        if (twice) {
            // Its messages would be taken twice: the relay lists each table once.
            ++stats_.anomalies;
            resync("the transaction at position " + std::to_string(pos) + " lists " + topic + " twice");
            return false;
        }
    }
    if (pos <= snap_position_) {
        // In the snapshot's rows; its messages may predate our subscription.
        finish();
        ++stats_.skipped_contained;
        return true;
    }
    // Every seq of a table belongs to a transaction, applied in position
    // order: a range of ours that starts beyond the last seq processed means
    // an earlier transaction was applied without its part here (a
    // Transaction of an endpoint group without the table, kept for its
    // position). Skipping the seqs in between would lose them for good.
    for (const auto& r : ranges) {
        const auto* t = find(r.schema_name(), r.table_name());
        if (t && r.first_seq() > t->last_seq + 1) {
            ++stats_.anomalies;
            resync("the transaction at position " + std::to_string(pos) + " starts " +
                   topic_of(t->schema_name, t->table_name) + " at seq " + std::to_string(r.first_seq()) +
                   ", but no transaction applied holds seqs " + std::to_string(t->last_seq + 1) + ".." +
                   std::to_string(r.first_seq() - 1) + " (publish endpoints of different groups?)");
            return false;
        }
    }
    // Its messages are held until it is complete and replayed ones are
    // never dropped: a transaction (or a relay's claim of one) with more
    // seqs on the set's tables than max_buffered cannot be held in bounded
    // memory. A new snapshot of the set contains it instead.
    std::uint64_t size = 0;
    for (const auto& r : ranges) {
        const auto* t = find(r.schema_name(), r.table_name());
        if (!t || r.last_seq() <= t->last_seq) continue;
        size += std::min<std::uint64_t>(r.last_seq() - std::max(r.first_seq(), t->last_seq + 1) + 1,
                                        options_.max_buffered + 1);
        if (size > options_.max_buffered) {
            resync("the transaction at position " + std::to_string(pos) + " has more than " +
                   std::to_string(options_.max_buffered) + " messages on the set's tables (max_buffered)");
            return false;
        }
    }

    // Complete when every seq of every listed range of our tables not yet
    // processed is buffered. The messages stay in the buffers until they
    // are applied (moved out, then erased): a copy would double what a
    // large transaction holds.
    std::vector<std::pair<Table*, v1::Message*>> msgs;
    for (const auto& r : ranges) {
        auto* t = find(r.schema_name(), r.table_name());
        if (!t || r.last_seq() <= t->last_seq) continue;
        std::uint64_t want = std::max(r.first_seq(), t->last_seq + 1);
        for (auto b = t->buffer.lower_bound(want); b != t->buffer.end() && b->first <= r.last_seq(); ++b) {
            if (b->first != want) return false;
            msgs.emplace_back(t, &b->second);
            ++want;
        }
        if (want != r.last_seq() + 1) return false;
    }
    for (const auto& [t, m] : msgs) {
        if (m->txid() != tx.txid() || (m->position() != 0 && m->position() != pos)) {
            ++stats_.anomalies;
            resync("seq " + std::to_string(m->seq()) + " of " + topic_of(t->schema_name, t->table_name) +
                   " is not part of the transaction at position " + std::to_string(pos));
            return false;
        }
    }

    if (filter_ && filter_->visible(tx.txid())) {
        // Committed before the snapshot, published after it: the rows
        // contain it; only its schemas are news.
        for (const auto& [t, m] : msgs)
            if (m->change().op() == v1::SCHEMA) t->schema = m->change().schema();
        finish();
        ++stats_.skipped_contained;
        return true;
    }
    if (!apply_new(tx, msgs)) return false;
    finish();
    commit_time_ = tx.commit_time();
    return true;
}

bool TableSetSync::apply_new(const v1::Message& tx, const std::vector<std::pair<Table*, v1::Message*>>& msgs) {
    // Check the whole transaction first: the view changes completely or not at all.
    std::map<Table*, FitCheck> fits;
    std::map<Table*, v1::TableSchema> schemas;
    std::map<Table*, std::set<std::string>> dropped;
    for (const auto& [t, m] : msgs) {
        const auto& ch = m->change();
        const auto where = topic_of(t->schema_name, t->table_name) + " seq " + std::to_string(m->seq());
        switch (ch.op()) {
            case v1::SCHEMA: {
                auto [s, fresh] = schemas.try_emplace(t, t->schema);
                if (!schema_subset(s->second, ch.schema(), dropped[t])) {
                    resync("schema of " + where + " adds or changes columns");
                    return false;
                }
                s->second = ch.schema();
                continue;
            }
            case v1::UNPUBLISH: resync(where + ": the table was unpublished"); return false;
            case v1::RESYNC: resync("the relay asks for a resync at " + where + ": " + ch.reason()); return false;
            default: break;
        }
        auto f = fits.try_emplace(t, t->mirror).first;
        const auto result = f->second.check(ch);
        if (result != Mirror::Apply::ok && result != Mirror::Apply::not_data) {
            ++stats_.anomalies;
            resync(where + ": " + to_string(result));
            return false;
        }
    }
    SetWireTransaction out;
    out.position = tx.seq();
    out.txid = tx.txid();
    out.commit_time = tx.commit_time();
    out.changes.reserve(msgs.size());
    for (const auto& [t, m] : msgs) {
        if (m->change().op() == v1::SCHEMA) {
            t->mirror.drop_columns(dropped[t]);
            t->schema = m->change().schema();
        } else {
            (void)t->mirror.apply(m->change());
        }
        // The buffered message is erased once the transaction is done.
        out.changes.emplace_back(topic_of(t->schema_name, t->table_name), std::move(*m));
    }
    // A transaction of other tables only moves the position: nothing to report.
    if (out.changes.empty()) return true;
    ++stats_.transactions;
    notify(callbacks_.on_transaction, out);
    return true;
}

std::uint64_t TableSetSync::replay_chunk() const noexcept { return std::max<std::uint64_t>(1, options_.max_buffered); }

// In live state, with nothing asked: ask for what blocks the next transaction.
void TableSetSync::check_complete(Clock::time_point) {
    if (state_ != SetState::live || pending_ != Pending::none || retry_at_) return;
    auto head = tx_buffer_.find(applied_ + 1);
    if (head == tx_buffer_.end()) {
        std::uint64_t to = 0;
        if (!tx_buffer_.empty())
            to = tx_buffer_.begin()->first - 1;
        else if (latest_ > applied_)
            to = latest_;
        if (to <= applied_) return;
        // Replayed messages are never dropped: at most max_buffered at a
        // time keeps a subscriber far behind in bounded memory; the next
        // chunk is asked once this one is applied.
        if (to - applied_ > replay_chunk()) to = applied_ + replay_chunk();
        ++stats_.gaps;
        request_replay("", "", applied_ + 1, to);
        return;
    }
    for (const auto& r : head->second.transaction().tables()) {
        auto* t = find(r.schema_name(), r.table_name());
        if (!t || r.last_seq() <= t->last_seq) continue;
        std::uint64_t want = std::max(r.first_seq(), t->last_seq + 1);
        for (auto b = t->buffer.lower_bound(want); b != t->buffer.end() && b->first == want && want <= r.last_seq();
             ++b)
            ++want;
        if (want <= r.last_seq()) {
            // Ask for the whole hole at once, not one transaction's range:
            // after a .tx replay hundreds of transactions may wait. The hole
            // ends below the next message we hold, or at the last seq any
            // buffered Transaction lists for the table.
            std::uint64_t to = r.last_seq();
            for (const auto& [pos, tx] : tx_buffer_)
                for (const auto& later : tx.transaction().tables())
                    if (later.schema_name() == t->schema_name && later.table_name() == t->table_name)
                        to = std::max(to, later.last_seq());
            if (auto next = t->buffer.upper_bound(want); next != t->buffer.end())
                to = std::max(r.last_seq(), std::min(to, next->first - 1));
            // In chunks as for ".tx", but T's own range at least, or T
            // could never complete.
            if (to - want + 1 > replay_chunk()) to = std::max(r.last_seq(), want + replay_chunk() - 1);
            ++stats_.gaps;
            request_replay(t->schema_name, t->table_name, want, to);
            return;
        }
    }
}

}  // namespace tablepub
