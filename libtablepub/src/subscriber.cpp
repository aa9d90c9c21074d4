#include "tablepub/subscriber.hpp"

#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>

#include <zmq_addon.hpp>

#include "curve_keys.hpp"
#include "tablepub.pb.h"
#include "tablepub/poll_budget.hpp"
#include "tablepub/poll_thread.hpp"
#include "tablepub/table_sync.hpp"

namespace tablepub {

namespace {

void check_curve(SubscriberOptions& o) {
    detail::check_curve(o.curve_server_key, o.curve_public_key, o.curve_secret_key);
}

void apply_curve(zmq::socket_t& s, const SubscriberOptions& o) {
    detail::apply_curve(s, o.curve_server_key, o.curve_public_key, o.curve_secret_key);
}

}  // namespace

// The sockets and the per-table engines, behind Subscriber's pointer so that
// its header needs neither zmq.hpp nor the generated wire types.
struct Subscriber::Impl {
    Impl(SubscriberOptions options, SyncCallbacks callbacks);

    void poll(std::chrono::milliseconds timeout);
    [[nodiscard]] std::vector<TableStatus> status() const;
    bool with_table(const std::string& table, const std::function<void(const TableSync&)>& fn) const;
    [[nodiscard]] bool all_live() const;
    void rethrow_callback_error();

    struct Outstanding {
        TableSync* table = nullptr;
        TableSync::Clock::time_point last_activity;
    };

    void connect_dealer();
    void on_stream_message(TableSync::Clock::time_point now);
    void on_reply(TableSync::Clock::time_point now);
    void send_requests(TableSync::Clock::time_point now);
    void cancel_abandoned();
    void expire_requests(TableSync::Clock::time_point now);
    void send(const v1::Request& req);

    SubscriberOptions options_;
    zmq::context_t ctx_;
    zmq::socket_t sub_;
    zmq::socket_t dealer_;
    std::map<std::string, std::unique_ptr<TableSync>> tables_;  // by topic
    std::map<std::uint64_t, Outstanding> outstanding_;          // by request_id
    mutable std::recursive_mutex mutex_;
    bool started_ = false;
    // Last: destroyed (stopped) before the members its step uses.
    PollThread thread_{[this](std::chrono::milliseconds timeout) { poll(timeout); }};
};

Subscriber::Impl::Impl(SubscriberOptions options, SyncCallbacks callbacks)
    : options_(std::move(options)), ctx_(1), sub_(ctx_, zmq::socket_type::sub) {
    if (options_.publish_endpoints.empty() || options_.snapshot_endpoints.empty())
        throw std::invalid_argument("a subscriber needs a publish and a snapshot endpoint");
    if (options_.tables.empty()) throw std::invalid_argument("a subscriber needs at least one table");
    check_curve(options_);
    sub_.set(zmq::sockopt::linger, 0);
    sub_.set(zmq::sockopt::rcvhwm, 0);  // a gap costs a replay; the relay side bounds the rate
    apply_curve(sub_, options_);
    for (const auto& t : options_.tables) {
        const auto dot = t.find('.');
        if (dot == std::string::npos || dot == 0 || dot + 1 == t.size())
            throw std::invalid_argument("table \"" + t + "\" is not of the form schema.table");
        auto sync = std::make_unique<TableSync>(t.substr(0, dot), t.substr(dot + 1), options_.sync, callbacks);
        sub_.set(zmq::sockopt::subscribe, t);
        tables_.emplace(t, std::move(sync));
    }
    for (const auto& ep : options_.publish_endpoints) sub_.connect(ep);
    connect_dealer();
}

void Subscriber::Impl::connect_dealer() {
    dealer_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
    dealer_.set(zmq::sockopt::linger, 0);
    apply_curve(dealer_, options_);
    for (const auto& ep : options_.snapshot_endpoints) dealer_.connect(ep);
}

void Subscriber::Impl::send(const v1::Request& req) {
    const auto bytes = req.SerializeAsString();
    // A request that cannot be queued now is retried by the timeout.
    (void)dealer_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void Subscriber::Impl::on_stream_message(TableSync::Clock::time_point now) {
    std::vector<zmq::message_t> frames;
    for (std::size_t n = 0; n < max_stream_messages_per_step &&
                            zmq::recv_multipart(sub_, std::back_inserter(frames), zmq::recv_flags::dontwait);
         ++n) {
        if (frames.size() == 2) {
            // SUB filters are prefixes: "public.t" also matches "public.t2".
            auto it = tables_.find(frames[0].to_string());
            v1::Message msg;
            if (it != tables_.end() && msg.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size()))) {
                it->second->on_message(msg, now);
                // The rest stays queued for the next poll, after the caller saw the error.
                if (it->second->callback_failed()) return;
            }
        }
        frames.clear();
    }
}

void Subscriber::Impl::on_reply(TableSync::Clock::time_point now) {
    zmq::message_t frame;
    while (dealer_.recv(frame, zmq::recv_flags::dontwait)) {
        v1::Reply reply;
        if (!reply.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
        auto it = outstanding_.find(reply.request_id());
        if (it == outstanding_.end()) continue;  // a stream we gave up
        it->second.last_activity = now;
        TableSync* table = it->second.table;
        const auto id = reply.request_id();
        table->on_reply(reply, now);
        switch (reply.kind_case()) {
            case v1::Reply::kSnapshotRows:
            case v1::Reply::kReplayMessages:
                if (table->pending_request_id() == id) {
                    v1::Request credit;
                    credit.set_request_id(id);
                    credit.mutable_credit_grant()->set_chunks(1);
                    send(credit);
                }
                break;
            case v1::Reply::kSnapshotEnd:
            case v1::Reply::kReplayEnd:
            case v1::Reply::kError: outstanding_.erase(id); break;
            default: break;
        }
        if (table->callback_failed()) return;
    }
}

// After a complete step: the engines and the request bookkeeping are
// consistent, so the first callback exception may leave poll().
void Subscriber::Impl::rethrow_callback_error() {
    std::exception_ptr first;
    for (auto& [topic, table] : tables_) {
        auto e = table->take_callback_error();
        if (!first) first = std::move(e);
    }
    if (first) std::rethrow_exception(first);
}

void Subscriber::Impl::send_requests(TableSync::Clock::time_point now) {
    for (auto& [topic, table] : tables_) {
        table->tick(now);
        auto req = table->take_request();
        if (!req) continue;
        // The table gave up its previous stream (if any): tell the relay.
        for (auto it = outstanding_.begin(); it != outstanding_.end();) {
            if (it->second.table == table.get()) {
                v1::Request cancel;
                cancel.set_request_id(it->first);
                cancel.mutable_cancel();
                send(cancel);
                it = outstanding_.erase(it);
            } else {
                ++it;
            }
        }
        req->set_credit(options_.credit);
        req->set_max_chunk_rows(options_.chunk_rows);
        outstanding_[req->request_id()] = {table.get(), now};
        send(*req);
    }
}

// A table that stopped following (moved, unpublished) no longer waits for
// its stream: tell the relay, and do not let the stream time out later.
void Subscriber::Impl::cancel_abandoned() {
    for (auto it = outstanding_.begin(); it != outstanding_.end();) {
        if (it->second.table->pending_request_id() != it->first) {
            v1::Request cancel;
            cancel.set_request_id(it->first);
            cancel.mutable_cancel();
            send(cancel);
            it = outstanding_.erase(it);
        } else {
            ++it;
        }
    }
}

void Subscriber::Impl::expire_requests(TableSync::Clock::time_point now) {
    bool expired = false;
    for (auto it = outstanding_.begin(); it != outstanding_.end();) {
        if (now - it->second.last_activity > options_.request_timeout) {
            auto* table = it->second.table;
            const auto id = it->first;
            it = outstanding_.erase(it);
            table->on_request_failed(id, "no reply from the snapshot endpoint", now);
            expired = true;
        } else {
            ++it;
        }
    }
    // The relay may be gone; a fresh socket drops requests queued for it
    // (the "lazy pirate" pattern). Other streams on it are asked again.
    if (expired) {
        for (auto& [id, o] : outstanding_) o.table->on_request_failed(id, "reconnecting", now);
        outstanding_.clear();
        connect_dealer();
    }
}

void Subscriber::Impl::poll(std::chrono::milliseconds timeout) {
    const auto deadline = TableSync::Clock::now() + timeout;
    do {
        zmq::pollitem_t items[] = {{sub_.handle(), 0, ZMQ_POLLIN, 0}, {dealer_.handle(), 0, ZMQ_POLLIN, 0}};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - TableSync::Clock::now());
        zmq::poll(items, 2, std::max(std::chrono::milliseconds(0), std::min(left, std::chrono::milliseconds(100))));
        std::lock_guard lock(mutex_);
        const auto now = TableSync::Clock::now();
        if (!started_) {
            started_ = true;
            for (auto& [topic, table] : tables_) table->start(now);
        }
        if (items[0].revents & ZMQ_POLLIN) on_stream_message(now);
        if (items[1].revents & ZMQ_POLLIN) on_reply(now);
        cancel_abandoned();
        expire_requests(now);
        send_requests(now);
        rethrow_callback_error();
    } while (TableSync::Clock::now() < deadline);
}

std::vector<TableStatus> Subscriber::Impl::status() const {
    std::lock_guard lock(mutex_);
    std::vector<TableStatus> out;
    const auto now = TableSync::Clock::now();
    for (const auto& [topic, t] : tables_) {
        TableStatus s;
        s.table = topic;
        s.state = t->state();
        s.last_seq = t->last_seq();
        s.latest_seq = t->latest_seq();
        s.lag = t->lag();
        s.buffered = t->buffered();
        s.rows = t->mirror().size();
        s.stale = t->stale(now);
        s.moved_to = t->moved_to();
        s.reason = t->reason();
        s.stats = t->stats();
        out.push_back(std::move(s));
    }
    return out;
}

bool Subscriber::Impl::with_table(const std::string& table, const std::function<void(const TableSync&)>& fn) const {
    std::lock_guard lock(mutex_);
    auto it = tables_.find(table);
    if (it == tables_.end()) return false;
    fn(*it->second);
    return true;
}

bool Subscriber::Impl::all_live() const {
    std::lock_guard lock(mutex_);
    for (const auto& [topic, t] : tables_)
        if (t->state() != SyncState::live || t->lag() != 0) return false;
    return true;
}

Subscriber::Subscriber(SubscriberOptions options, SyncCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(callbacks))) {}

// The thread (if started) calls into impl_: stop it first.
Subscriber::~Subscriber() { stop(); }

void Subscriber::poll(std::chrono::milliseconds timeout) { impl_->poll(timeout); }
void Subscriber::start() { impl_->thread_.start(); }
void Subscriber::stop() noexcept { impl_->thread_.stop(); }
std::vector<TableStatus> Subscriber::status() const { return impl_->status(); }
bool Subscriber::all_live() const { return impl_->all_live(); }
std::exception_ptr Subscriber::failure() const { return impl_->thread_.failure(); }

bool Subscriber::with_table(const std::string& table, const std::function<void(const TableSync&)>& fn) const {
    return impl_->with_table(table, fn);
}

bool Subscriber::for_each_row(const std::string& table, const std::function<void(const DatumRow&)>& fn) const {
    return impl_->with_table(table, [&](const TableSync& sync) {
        sync.mirror().for_each([&](const Mirror::Row& row) {
            DatumRow out;
            for (const auto& [column, value] : row) out.emplace(column, to_datum(value));
            fn(out);
        });
    });
}

}  // namespace tablepub
