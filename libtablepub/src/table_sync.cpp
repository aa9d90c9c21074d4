#include "tablepub/table_sync.hpp"

#include <algorithm>
#include <atomic>
#include <set>

namespace tablepub {

namespace {

// Answers that say "not now" rather than "never": the relay (or its
// database) is down, restarting or busy.
bool is_transient(v1::ErrorCode code) noexcept {
    return code == v1::UNAVAILABLE || code == v1::BUSY || code == v1::TIMEOUT;
}

// Request ids are unique in the process, so one DEALER can carry the
// streams of every table.
std::uint64_t next_request_id() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
}

}  // namespace

const char* to_string(SyncState s) noexcept {
    switch (s) {
        case SyncState::syncing: return "syncing";
        case SyncState::live: return "live";
        case SyncState::replaying: return "replaying";
        case SyncState::resyncing: return "resyncing";
        case SyncState::unpublished: return "unpublished";
        case SyncState::moved: return "moved";
        case SyncState::failed: return "failed";
    }
    return "?";
}

TableSync::TableSync(std::string schema_name, std::string table_name, SyncOptions options, SyncCallbacks callbacks)
    : schema_name_(std::move(schema_name)),
      table_name_(std::move(table_name)),
      name_(schema_name_ + "." + table_name_),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)) {}

void TableSync::start(Clock::time_point now) {
    last_heard_ = now;
    request_snapshot();
}

void TableSync::set_state(SyncState s, const std::string& why) {
    reason_ = why;
    if (s == state_) return;
    auto from = state_;
    state_ = s;
    notify(callbacks_.on_state, name_, from, s, why);
}

void TableSync::request_snapshot() {
    pending_ = Pending::snapshot;
    pending_id_ = next_request_id();
    retry_at_.reset();
    snapshot_begun_ = false;
    v1::Request req;
    req.set_request_id(pending_id_);
    auto* s = req.mutable_snapshot();
    s->set_schema_name(schema_name_);
    s->set_table_name(table_name_);
    for (const auto& c : options_.columns) s->add_columns(c);
    outbox_ = std::move(req);
}

void TableSync::request_replay() {
    // Everything after our position, up to the first message we hold (or the
    // latest the relay announced).
    std::uint64_t from = last_seq_ + 1;
    std::uint64_t to = buffer_.empty() ? latest_seq_ : buffer_.begin()->first - 1;
    pending_ = Pending::replay;
    pending_id_ = next_request_id();
    retry_at_.reset();
    replay_start_seq_ = last_seq_;
    ++stats_.replays;
    v1::Request req;
    req.set_request_id(pending_id_);
    auto* r = req.mutable_replay();
    r->set_schema_name(schema_name_);
    r->set_table_name(table_name_);
    r->set_from_seq(from);
    r->set_to_seq(to >= from ? to : 0);
    outbox_ = std::move(req);
}

void TableSync::resync(const std::string& why) {
    ++stats_.resyncs;
    moved_to_.clear();
    // Heartbeats will announce the latest position again; an old, higher
    // value (from a stream that was reset) must not cause endless replays.
    latest_seq_ = 0;
    regressions_ = 0;
    set_state(SyncState::resyncing, why);
    request_snapshot();
}

void TableSync::retry_later(Pending what, std::chrono::milliseconds delay, Clock::time_point now) {
    pending_ = Pending::none;
    pending_id_ = 0;
    retry_what_ = what;
    retry_at_ = now + delay;
}

// Abandons any request in progress or scheduled (the Subscriber cancels a
// stream whose id is no longer pending) and waits in state `s`.
void TableSync::stop_following(SyncState s, const std::string& why) {
    pending_ = Pending::none;
    pending_id_ = 0;
    outbox_.reset();
    retry_at_.reset();
    retry_what_ = Pending::none;
    set_state(s, why);
}

// The table now publishes under another name. Snapshot and replay under the
// old name would only answer MOVED, so nothing is asked again; the rows stay
// as they were at the rename, for the application to move or drop.
void TableSync::move(std::string to, const std::string& why) {
    moved_to_ = std::move(to);
    stop_following(SyncState::moved, why);
}

std::optional<v1::Request> TableSync::take_request() {
    auto r = std::move(outbox_);
    outbox_.reset();
    return r;
}

bool TableSync::stale(Clock::time_point now) const noexcept {
    if (heartbeat_ms_ == 0 || state_ == SyncState::unpublished || state_ == SyncState::moved) return false;
    return now - last_heard_ > std::chrono::milliseconds(heartbeat_ms_ * options_.stale_heartbeats);
}

void TableSync::buffer(const v1::Message& msg) {
    if (in_order_states() && msg.seq() <= last_seq_) {
        ++stats_.duplicates;
        return;
    }
    if (buffer_.size() >= options_.max_buffered && buffer_.find(msg.seq()) == buffer_.end()) {
        // Fetched again by replay once the snapshot or replay is done.
        ++stats_.dropped;
        return;
    }
    buffer_.emplace(msg.seq(), msg);
}

void TableSync::on_message(const v1::Message& msg, Clock::time_point now) {
    // Another table on the same topic: s."t.u" and "s.t".u are both "s.t.u"
    // (docs/protocol.md section 2); its seqs and notices are not ours.
    if (msg.schema_name() != schema_name_ || msg.table_name() != table_name_) return;
    last_heard_ = now;
    if (msg.has_heartbeat()) {
        on_heartbeat(msg);
        return;
    }
    if (msg.seq() > latest_seq_) latest_seq_ = msg.seq();
    switch (state_) {
        case SyncState::live: deliver(msg); break;
        case SyncState::unpublished:
            // Something is published on the table again (its SCHEMA message comes
            // first): start over from a snapshot, which contains whatever it
            // brings. Nothing is buffered here: what the snapshot lacks is
            // replayed after it.
            if (pending_ == Pending::none) resync("the table is published again");
            break;
        case SyncState::moved:
            // A table was published under the old name again (renamed back, or
            // another table took the name): follow it from a snapshot.
            if (pending_ == Pending::none) resync("a table publishes under this name again");
            break;
        case SyncState::failed: break;
        default: buffer(msg); break;
    }
}

void TableSync::on_heartbeat(const v1::Message& msg) {
    const auto& hb = msg.heartbeat();
    const auto seq = msg.seq();
    heartbeat_ms_ = hb.interval_ms();
    if (!hb.moved_to_table().empty()) {
        // `seq` is the table's SCHEMA message on its new topic, not ours:
        // it must not count as lag or start a replay here.
        auto to = hb.moved_to_schema() + "." + hb.moved_to_table();
        if (state_ != SyncState::moved || moved_to_ != to) move(to, "the table was renamed to " + to);
        return;
    }
    if ((state_ == SyncState::unpublished || state_ == SyncState::moved) && !hb.unpublished()) {
        // Only published tables have plain heartbeats; one beyond anything
        // announced before means the SCHEMA message that started the table
        // again was missed. (Others were sent before the UNPUBLISH or the
        // rename reached the relay.)
        if (seq > std::max(last_seq_, latest_seq_) && pending_ == Pending::none && !retry_at_)
            resync("the relay publishes the table again");
        return;
    }
    if (seq > latest_seq_) latest_seq_ = seq;
    if (hb.unpublished()) {
        if (state_ != SyncState::unpublished) {
            // The UNPUBLISH message itself was missed (or we are still
            // joining): its effect is the same.
            mirror_.clear();
            schema_.Clear();
            // Everything up to the UNPUBLISH is accounted for: its effect is
            // an empty copy.
            if (seq > last_seq_) last_seq_ = seq;
            stop_following(SyncState::unpublished, "the relay reports the table unpublished");
        }
        return;
    }
    if (state_ != SyncState::live) return;
    if (seq > last_seq_) {
        regressions_ = 0;
        // The last message(s) were lost: nothing else would tell us.
        if (buffer_.empty() && pending_ == Pending::none) {
            ++stats_.gaps;
            set_state(SyncState::replaying,
                      "heartbeat announces seq " + std::to_string(seq) + ", have " + std::to_string(last_seq_));
            replay_attempts_ = 0;
            transient_failures_ = 0;
            request_replay();
        }
    } else if (seq < last_seq_) {
        // Normal for a moment after a relay restart (it republishes from its
        // last durable point); persistent means the stream was reset.
        if (++regressions_ >= options_.regression_heartbeats)
            resync("relay announces seq " + std::to_string(seq) + " below ours (" + std::to_string(last_seq_) +
                   "): the stream was reset");
    } else {
        regressions_ = 0;
    }
}

void TableSync::deliver(const v1::Message& msg) {
    if (msg.seq() <= last_seq_) {
        ++stats_.duplicates;
        return;
    }
    if (msg.seq() == last_seq_ + 1) {
        apply(msg);
        drain();
        return;
    }
    buffer(msg);
    ++stats_.gaps;
    set_state(SyncState::replaying,
              "gap: expected seq " + std::to_string(last_seq_ + 1) + ", got " + std::to_string(msg.seq()));
    replay_attempts_ = 0;
    transient_failures_ = 0;
    request_replay();
}

void TableSync::drain() {
    while (in_order_states() && !buffer_.empty()) {
        auto it = buffer_.begin();
        if (it->first <= last_seq_) {
            buffer_.erase(it);
            continue;
        }
        if (it->first != last_seq_ + 1) break;
        v1::Message msg = std::move(it->second);
        buffer_.erase(it);
        apply(msg);
    }
}

void TableSync::apply(const v1::Message& msg) {
    last_seq_ = msg.seq();
    if (!msg.has_change()) return;
    const auto& ch = msg.change();
    // The rule that lines the stream up with the snapshot: a change whose
    // transaction is visible in the snapshot is already in its rows.
    const bool contained = filter_ && filter_->visible(msg.txid());
    if (contained) {
        ++stats_.skipped_visible;
        // The rows already have this shape; the header may have predated it.
        if (ch.op() == v1::SCHEMA) {
            schema_ = ch.schema();
            schema_seq_ = msg.seq();
        }
        return;
    }
    ++stats_.applied;
    switch (ch.op()) {
        case v1::SCHEMA:
            notify(callbacks_.on_change, name_, msg);
            apply_schema(ch.schema(), msg.seq());
            return;
        case v1::UNPUBLISH:
            mirror_.clear();
            schema_.Clear();
            notify(callbacks_.on_change, name_, msg);
            set_state(SyncState::unpublished, "the table was unpublished");
            return;
        case v1::RESYNC:
            // The rows changed in a way no row change describes: what we hold is
            // wrong from here on. Not an anomaly: the relay said so.
            ++stats_.resync_markers;
            mirror_.clear();
            notify(callbacks_.on_change, name_, msg);
            resync("the relay asks for a resync at seq " + std::to_string(msg.seq()) + ": " + ch.reason());
            return;
        default: break;
    }
    auto result = options_.keep_mirror ? mirror_.apply(ch) : Mirror::Apply::ok;
    notify(callbacks_.on_change, name_, msg);
    if (result != Mirror::Apply::ok && result != Mirror::Apply::not_data) {
        ++stats_.anomalies;
        if (options_.resync_on_anomaly)
            resync(std::string("seq ") + std::to_string(msg.seq()) + ": " + to_string(result));
    }
}

void TableSync::apply_schema(const v1::TableSchema& next, std::uint64_t seq) {
    // Columns that stop being published are dropped from the rows; anything
    // else (a new column: its value in existing rows was never sent; a type
    // change) can only be learnt from a new snapshot.
    std::map<std::string, const v1::ColumnSchema*> old_cols;
    for (const auto& c : schema_.columns()) old_cols[c.name()] = &c;
    bool subset = !schema_.columns().empty();
    std::set<std::string> dropped;
    for (const auto& [n, c] : old_cols) dropped.insert(n);
    for (const auto& c : next.columns()) {
        auto it = old_cols.find(c.name());
        if (it == old_cols.end() || it->second->type_oid() != c.type_oid() ||
            it->second->key_position() != c.key_position()) {
            subset = false;
            break;
        }
        dropped.erase(c.name());
    }
    if (!subset) {
        resync("schema of seq " + std::to_string(seq) + " adds or changes columns");
        return;
    }
    mirror_.drop_columns(dropped);
    schema_ = next;
    schema_seq_ = seq;
}

void TableSync::on_reply(const v1::Reply& reply, Clock::time_point now) {
    if (reply.request_id() == 0 || reply.request_id() != pending_id_) return;
    switch (reply.kind_case()) {
        case v1::Reply::kSnapshotBegin: {
            if (pending_ != Pending::snapshot || snapshot_begun_) return;
            const auto& b = reply.snapshot_begin();
            snapshot_begun_ = true;
            filter_ = PgSnapshot::from(b);
            schema_ = b.schema();
            schema_seq_ = b.schema_seq();
            snap_seq_ = b.seq();
            snap_rows_ = 0;
            mirror_.clear();
            ++stats_.snapshots;
            notify(callbacks_.on_snapshot_begin, name_, b);
            return;
        }
        case v1::Reply::kSnapshotRows:
            if (pending_ != Pending::snapshot || !snapshot_begun_) return;
            for (const auto& row : reply.snapshot_rows().rows()) {
                ++snap_rows_;
                if (options_.keep_mirror && mirror_.apply(row) != Mirror::Apply::ok) ++stats_.anomalies;
                notify(callbacks_.on_snapshot_row, name_, row);
            }
            return;
        case v1::Reply::kSnapshotEnd:
            if (pending_ != Pending::snapshot || !snapshot_begun_) return;
            on_snapshot_end(reply.snapshot_end(), now);
            return;
        case v1::Reply::kReplayBegin: transient_failures_ = 0; return;
        case v1::Reply::kReplayMessages:
            if (pending_ != Pending::replay) return;
            for (const auto& m : reply.replay_messages().messages()) {
                if (m.seq() > latest_seq_) latest_seq_ = m.seq();
                if (!in_order_states()) {
                    buffer(m);
                } else if (m.seq() <= last_seq_) {
                    ++stats_.duplicates;
                } else if (m.seq() == last_seq_ + 1) {
                    apply(m);
                    drain();
                } else {
                    buffer(m);
                }
            }
            return;
        case v1::Reply::kReplayEnd:
            if (pending_ != Pending::replay) return;
            on_replay_end(now);
            return;
        case v1::Reply::kError: on_error(reply.error(), now); return;
        default: return;
    }
}

void TableSync::on_snapshot_end(const v1::SnapshotEnd& end, Clock::time_point now) {
    pending_ = Pending::none;
    pending_id_ = 0;
    if (end.row_count() != snap_rows_) {
        retry_later(Pending::snapshot, options_.retry_delay, now);
        return;
    }
    // Every message up to the snapshot's seq is contained in it.
    last_seq_ = snap_seq_;
    regressions_ = 0;
    notify(callbacks_.on_snapshot_end, name_, snap_rows_);
    set_state(SyncState::live,
              "snapshot of " + std::to_string(snap_rows_) + " rows at seq " + std::to_string(snap_seq_));
    drain();
    check_complete(now);
}

// In live state: ask for whatever is known to exist but is not here yet.
void TableSync::check_complete(Clock::time_point) {
    if (state_ != SyncState::live || pending_ != Pending::none) return;
    if (!buffer_.empty() || latest_seq_ > last_seq_) {
        ++stats_.gaps;
        set_state(SyncState::replaying, "missing seq " + std::to_string(last_seq_ + 1) + " onwards");
        replay_attempts_ = 0;
        transient_failures_ = 0;
        request_replay();
    }
}

void TableSync::on_replay_end(Clock::time_point now) {
    pending_ = Pending::none;
    pending_id_ = 0;
    drain();
    if (state_ != SyncState::replaying) return;  // the replay led to a resync/unpublish
    if (buffer_.empty() && latest_seq_ <= last_seq_) {
        set_state(SyncState::live, "gap filled up to seq " + std::to_string(last_seq_));
        return;
    }
    // The relay may not have made the newest messages durable yet: ask again
    // a little later, and give up only when retries bring nothing new.
    if (last_seq_ > replay_start_seq_) replay_attempts_ = 0;
    if (++replay_attempts_ >= options_.max_replay_attempts) {
        resync("replay does not fill the gap after seq " + std::to_string(last_seq_));
        return;
    }
    retry_later(Pending::replay, options_.retry_delay, now);
}

void TableSync::on_error(const v1::Error& err, Clock::time_point now) {
    const auto what = pending_;
    const std::string why = std::string(v1::ErrorCode_Name(err.code())) + ": " + err.message();
    if (what == Pending::none) return;
    if (err.code() == v1::MOVED) {
        move(err.moved_to_table().empty() ? std::string() : err.moved_to_schema() + "." + err.moved_to_table(), why);
        return;
    }
    // Asking again soon cannot help: the key's rights, or the row, must change.
    if (err.code() == v1::FORBIDDEN || (err.code() == v1::TOO_LARGE && what == Pending::snapshot)) {
        set_state(SyncState::failed, why);
        retry_later(Pending::snapshot, options_.unpublished_retry, now);
        return;
    }
    if (what == Pending::snapshot) {
        switch (err.code()) {
            case v1::UNKNOWN_TABLE:
            case v1::NOT_PUBLISHED:
                mirror_.clear();
                set_state(SyncState::unpublished, why);
                retry_later(Pending::snapshot, options_.unpublished_retry, now);
                return;
            case v1::MALFORMED_REQUEST:
            case v1::COLUMN_NOT_PUBLISHED:
                set_state(SyncState::failed, why);
                retry_later(Pending::snapshot, options_.unpublished_retry, now);
                return;
            default: retry_later(Pending::snapshot, options_.retry_delay, now); return;
        }
    }
    if (what == Pending::replay) {
        // TOO_LARGE: the snapshot has the row as it is now, which may fit.
        if (err.code() == v1::GONE || err.code() == v1::UNKNOWN_TABLE || err.code() == v1::TOO_LARGE ||
            err.code() == v1::NOT_PUBLISHED) {
            resync("replay refused: " + why);
            return;
        }
        // A relay that is down, restarting or busy (no reply, UNAVAILABLE,
        // BUSY, TIMEOUT) would not serve a snapshot either: keep asking for
        // the replay, less often each time, and count only real refusals.
        // Giving up after a few seconds turned every slow relay restart into
        // a resync (torture relay_kill under load).
        if (is_transient(err.code())) {
            transient_failures_ = std::min(transient_failures_ + 1, kMaxBackoffSteps);
            retry_later(Pending::replay, options_.retry_delay * transient_failures_, now);
            return;
        }
        if (++replay_attempts_ >= options_.max_replay_attempts) {
            resync("replay refused: " + why);
            return;
        }
        retry_later(Pending::replay, options_.retry_delay, now);
    }
}

void TableSync::on_request_failed(std::uint64_t request_id, const std::string& why, Clock::time_point now) {
    if (request_id == 0 || request_id != pending_id_) return;
    v1::Error err;
    err.set_code(v1::UNAVAILABLE);
    err.set_message(why);
    on_error(err, now);
}

void TableSync::tick(Clock::time_point now) {
    if (!retry_at_ || now < *retry_at_) return;
    retry_at_.reset();
    if (retry_what_ == Pending::snapshot) {
        request_snapshot();
    } else if (retry_what_ == Pending::replay && state_ == SyncState::replaying) {
        if (buffer_.empty() && latest_seq_ <= last_seq_)
            set_state(SyncState::live, "nothing missing any more");
        else
            request_replay();
    }
}

}  // namespace tablepub
