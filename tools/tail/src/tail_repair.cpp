#include "tail/tail_repair.hpp"

#include <algorithm>
#include <utility>

#include "tablepub.pb.h"
#include "tablepub/backoff.hpp"
#include "tablepub/table_set_sync.hpp"

namespace tablepub {

namespace {

constexpr std::size_t ENTRY_OVERHEAD = 64;  // a buffer entry's map node and string, roughly

// True when the message was published on `topic` ("schema.table"): a
// replay asked under a renamed table's new name also brings the messages
// of its new topic, which are not this topic's.
bool published_on(const v1::Message& m, std::string_view topic) {
    const std::string_view s = m.schema_name(), t = m.table_name();
    if (s.empty() && t.empty()) return true;
    return topic.size() == s.size() + 1 + t.size() && topic.substr(0, s.size()) == s && topic[s.size()] == '.' &&
           topic.substr(s.size() + 1) == t;
}

}  // namespace

TailRepair::TailRepair(TailRepairOptions options, Sink sink) : options_(options), sink_(std::move(sink)) {}

TailRepair::Topic& TailRepair::topic_for(std::string_view topic, const v1::Message& msg, bool& fresh) {
    auto it = topics_.find(topic);
    fresh = it == topics_.end();
    if (fresh) {
        Topic t;
        t.name = std::string(topic);
        // What came before the tail joined is not a gap: a heartbeat
        // repeats the latest seq, a change takes it.
        t.last = msg.has_heartbeat() || msg.seq() == 0 ? msg.seq() : msg.seq() - 1;
        t.latest = msg.seq();
        it = topics_.emplace(t.name, std::move(t)).first;
    }
    auto& t = it->second;
    // Live messages carry the table's current names: ask under those.
    if (!msg.schema_name().empty() && !msg.table_name().empty() &&
        (msg.schema_name() != t.schema_name || msg.table_name() != t.table_name)) {
        t.schema_name = msg.schema_name();
        t.table_name = msg.table_name();
    }
    if (t.schema_name.empty()) {
        const auto dot = t.name.find('.');
        t.schema_name = t.name.substr(0, dot);
        t.table_name = dot == std::string::npos ? std::string() : t.name.substr(dot + 1);
    }
    return t;
}

void TailRepair::on_live(std::string_view topic, const v1::Message& msg, std::string_view body, Clock::time_point now) {
    if (msg.has_heartbeat() && !msg.heartbeat().moved_to_table().empty()) {
        // Its seq belongs to the table's new topic: nothing to check here.
        sink_.print(topic, msg);
        return;
    }
    bool fresh = false;
    auto& t = topic_for(topic, msg, fresh);
    if (msg.seq() > t.latest) t.latest = msg.seq();
    if (msg.has_heartbeat()) {
        if (msg.seq() < t.last) {
            // Normal for a moment after a relay restart (it republishes
            // from its durable point); for good, the stream was reset.
            // Reported once; the tail keeps its position, so that a false
            // alarm (a relay slow to republish) never prints a change twice.
            if (++t.regressions == options_.regression_heartbeats) {
                ++stats_.lost_gaps;
                stats_.lost_messages += t.last;
                sink_.lost(TailGap{t.name, 1, t.last},
                           "heartbeats announce seq " + std::to_string(msg.seq()) +
                               " below it: the relay's stream "
                               "was reset (a restored database?), and its messages up to seq " +
                               std::to_string(t.last) + " are taken for duplicates; restart the tail");
            }
        } else {
            t.regressions = 0;
        }
        // Printed only when it announces nothing unprinted, so that the
        // output never shows a position ahead of its changes.
        if (msg.seq() <= t.last)
            sink_.print(topic, msg);
        else if (t.request_id == 0 && !t.retry_at)
            request(t, now);
        return;
    }
    if (msg.seq() <= t.last) {
        ++stats_.duplicates;
        return;
    }
    if (msg.seq() == t.last + 1) {
        accept(t, msg, false);
        drain(t);
        return;
    }
    hold(t, msg, body);
    if (t.request_id == 0 && !t.retry_at) request(t, now);
}

void TailRepair::accept(Topic& t, const v1::Message& msg, bool replayed) {
    sink_.print(t.name, msg);
    t.last = msg.seq();
    if (replayed) ++stats_.replayed;
}

void TailRepair::hold(Topic& t, const v1::Message& msg, std::string_view body) {
    if (t.buffer.count(msg.seq()) != 0) return;
    const std::size_t cost = body.size() + ENTRY_OVERHEAD;
    if (buffered_bytes_ + cost > options_.max_buffered_bytes) {
        // Its seq stays announced (latest): the next replay fetches it.
        ++stats_.dropped;
        return;
    }
    t.buffer.emplace(msg.seq(), std::string(body));
    buffered_bytes_ += cost;
    if (buffered_bytes_ > stats_.max_buffered_bytes) stats_.max_buffered_bytes = buffered_bytes_;
}

void TailRepair::drain(Topic& t) {
    v1::Message msg;
    while (!t.buffer.empty()) {
        auto it = t.buffer.begin();
        if (it->first > t.last + 1) break;
        if (it->first == t.last + 1 && msg.ParseFromString(it->second)) accept(t, msg, false);
        buffered_bytes_ -= it->second.size() + ENTRY_OVERHEAD;
        t.buffer.erase(it);
    }
}

bool TailRepair::has_gap(const Topic& t) const noexcept { return !t.buffer.empty() || t.latest > t.last; }

std::uint64_t TailRepair::gap_end(const Topic& t) const noexcept {
    return t.buffer.empty() ? t.latest : t.buffer.begin()->first - 1;
}

void TailRepair::request(Topic& t, Clock::time_point now) {
    const auto id = ++next_id_;
    v1::Request req;
    req.set_request_id(id);
    req.set_credit(options_.credit);
    auto* r = req.mutable_replay();
    if (t.name == transaction_topic) {
        // The transaction topic replays by position, without a table name.
        r->set_transactions(true);
    } else {
        r->set_schema_name(t.schema_name);
        r->set_table_name(t.table_name);
    }
    r->set_from_seq(t.last + 1);
    // 0: up to the relay's latest durable seq. A backlog that overflowed
    // the relay's queue usually has holes all over it; asking for the rest
    // of it at once costs the relay one pass over its batches instead of
    // one per hole, and what the buffer already holds is dropped as
    // duplicate.
    r->set_to_seq(0);
    outbox_.push_back(std::move(req));
    requests_.emplace(id, t.name);
    t.request_id = id;
    t.last_activity = now;
    t.last_at_request = t.last;
    t.latest_at_request = t.latest;
    t.retry_at.reset();
    ++stats_.replays;
}

void TailRepair::cancel(Topic& t) {
    if (t.request_id == 0) return;
    v1::Request req;
    req.set_request_id(t.request_id);
    req.mutable_cancel();
    outbox_.push_back(std::move(req));
    requests_.erase(t.request_id);
    t.request_id = 0;
}

void TailRepair::after_attempt(Topic& t, const std::string& why, Clock::time_point now) {
    ++t.attempts;
    if (t.attempts >= options_.max_attempts) {
        give_up(t, why + " (" + std::to_string(t.attempts) + " attempts)", now, true);
        return;
    }
    // Waits longer each time: a busy or restarting relay gets some air.
    t.retry_at = now + options_.retry_delay * t.attempts;
}

void TailRepair::after_transient(Topic& t, Clock::time_point now) {
    // The relay is down, restarting or busy: the gap may still be retained
    // when it is back, so keep asking, less often each time (as the
    // libraries do); the buffer's byte limit bounds what waits meanwhile.
    t.transient = std::min(t.transient + 1, kMaxBackoffSteps);
    t.retry_at = now + options_.retry_delay * t.transient;
}

void TailRepair::finish(Topic& t, Clock::time_point now) {
    drain(t);
    if (!has_gap(t)) {
        t.attempts = 0;
        return;
    }
    if (t.last > t.last_at_request) {
        t.attempts = 0;
        request(t, now);
        return;
    }
    // The relay had not stored the missing messages yet (it publishes
    // before its position is durable), or no longer has the tail end.
    if (t.latest > t.latest_at_request) {
        // Still publishing (a large batch is durable at its end): no attempt lost.
        t.retry_at = now + options_.retry_delay;
        return;
    }
    after_attempt(t, "the relay replayed nothing from seq " + std::to_string(t.last + 1), now);
}

void TailRepair::give_up(Topic& t, const std::string& why, Clock::time_point now, bool follow) {
    cancel(t);
    t.retry_at.reset();
    t.attempts = 0;
    t.transient = 0;
    const auto end = gap_end(t);
    if (end > t.last) {
        ++stats_.lost_gaps;
        stats_.lost_messages += end - t.last;
        sink_.lost(TailGap{t.name, t.last + 1, end}, why);
        t.last = end;
    }
    drain(t);
    if (follow && has_gap(t)) request(t, now);  // the next hole may still be retained
}

void TailRepair::on_reply(const v1::Reply& reply, Clock::time_point now) {
    const auto rit = requests_.find(reply.request_id());
    if (rit == requests_.end()) return;  // a stream we gave up
    auto tit = topics_.find(rit->second);
    if (tit == topics_.end() || tit->second.request_id != reply.request_id()) {
        requests_.erase(rit);
        return;
    }
    auto& t = tit->second;
    t.last_activity = now;
    if (!reply.has_error()) t.transient = 0;
    switch (reply.kind_case()) {
        case v1::Reply::kReplayMessages: {
            for (const auto& m : reply.replay_messages().messages()) {
                if (m.has_heartbeat() || !published_on(m, t.name)) continue;
                if (m.seq() > t.latest) t.latest = m.seq();
                if (m.seq() <= t.last) {
                    ++stats_.duplicates;
                } else if (m.seq() == t.last + 1) {
                    accept(t, m, true);
                    drain(t);
                }
                // A replay has no holes; one that did would be asked again.
            }
            v1::Request credit;
            credit.set_request_id(t.request_id);
            credit.mutable_credit_grant()->set_chunks(1);
            outbox_.push_back(std::move(credit));
            return;
        }
        case v1::Reply::kReplayEnd:
            requests_.erase(rit);
            t.request_id = 0;
            finish(t, now);
            return;
        case v1::Reply::kError: {
            requests_.erase(rit);
            t.request_id = 0;
            const auto& e = reply.error();
            const std::string why = v1::ErrorCode_Name(e.code()) + ": " + e.message();
            switch (e.code()) {
                case v1::MOVED:
                    // Ask under the table's current name (protocol section 6).
                    if (!e.moved_to_table().empty()) {
                        t.schema_name = e.moved_to_schema();
                        t.table_name = e.moved_to_table();
                    }
                    after_attempt(t, why, now);
                    if (t.retry_at) t.retry_at = now;
                    return;
                case v1::BUSY:
                case v1::UNAVAILABLE:
                case v1::TIMEOUT: after_transient(t, now); return;
                case v1::INTERNAL:
                case v1::UNKNOWN_STREAM:
                case v1::ERROR_UNSPECIFIED: after_attempt(t, why, now); return;
                default:
                    // GONE (the messages left the relay's retention window),
                    // and answers that no retry changes.
                    give_up(t, why, now, true);
                    return;
            }
        }
        default: return;  // ReplayBegin; anything else is not for a replay
    }
}

void TailRepair::tick(Clock::time_point now) {
    bool expired = false;
    for (auto& [name, t] : topics_)
        if (t.request_id != 0 && now - t.last_activity > options_.request_timeout) expired = true;
    if (expired) {
        // The relay may be gone: a new connection drops what is queued for
        // the old one, so every stream in flight is asked again.
        reconnect_ = true;
        for (auto& [name, t] : topics_) {
            if (t.request_id == 0) continue;
            const bool timed_out = now - t.last_activity > options_.request_timeout;
            requests_.erase(t.request_id);
            t.request_id = 0;
            if (timed_out)
                after_transient(t, now);
            else
                t.retry_at = now;
        }
    }
    for (auto& [name, t] : topics_) {
        if (t.request_id != 0 || !t.retry_at || *t.retry_at > now) continue;
        if (has_gap(t))
            request(t, now);
        else
            t.retry_at.reset();
    }
}

std::vector<v1::Request> TailRepair::take_requests() { return std::exchange(outbox_, {}); }

bool TailRepair::take_reconnect() noexcept { return std::exchange(reconnect_, false); }

void TailRepair::give_up_all(const std::string& why, Clock::time_point now) {
    for (auto& [name, t] : topics_) {
        cancel(t);
        while (has_gap(t)) give_up(t, why, now, false);
    }
}

bool TailRepair::idle() const noexcept {
    for (const auto& [name, t] : topics_)
        if (t.request_id != 0 || t.retry_at || has_gap(t)) return false;
    return true;
}

}  // namespace tablepub
