#include "tablepub/set_subscriber.hpp"

#include <exception>
#include <mutex>
#include <stdexcept>

#include <zmq_addon.hpp>

#include "curve_keys.hpp"
#include "tablepub.pb.h"
#include "tablepub/poll_budget.hpp"
#include "tablepub/poll_thread.hpp"
#include "tablepub/table_set_sync.hpp"

namespace tablepub {

namespace {

DatumRow to_datum_row(const google::protobuf::RepeatedPtrField<v1::Column>& columns) {
    DatumRow row;
    for (const auto& c : columns) row.insert_or_assign(c.name(), to_datum(c.value()));
    return row;
}

ChangeOp to_change_op(v1::Op op) {
    switch (op) {
        case v1::INSERT: return ChangeOp::insert;
        case v1::UPDATE: return ChangeOp::update;
        case v1::DELETE: return ChangeOp::remove;
        case v1::TRUNCATE: return ChangeOp::truncate;
        case v1::SCHEMA: return ChangeOp::schema;
        case v1::UNPUBLISH: return ChangeOp::unpublish;
        case v1::RESYNC: return ChangeOp::resync;
        default: return ChangeOp::unspecified;
    }
}

// The plain form of a transaction; its messages stay owned by `wire`.
SetTransaction to_set_transaction(const SetWireTransaction& wire) {
    SetTransaction tx;
    tx.position = wire.position;
    tx.txid = wire.txid;
    tx.commit_time = wire.commit_time;
    tx.changes.reserve(wire.changes.size());
    for (const auto& [table, msg] : wire.changes) {
        const auto& ch = msg.change();
        tx.changes.push_back({.table = table,
                              .seq = msg.seq(),
                              .op = to_change_op(ch.op()),
                              .key = to_datum_row(ch.key()),
                              .old_key = to_datum_row(ch.old_key()),
                              .values = to_datum_row(ch.values()),
                              .message = &msg});
    }
    return tx;
}

SetSyncCallbacks engine_callbacks(SetCallbacks cb) {
    SetSyncCallbacks out;
    if (cb.on_transaction)
        out.on_transaction = [f = std::move(cb.on_transaction)](const SetWireTransaction& wire) {
            f(to_set_transaction(wire));
        };
    out.on_snapshot = std::move(cb.on_snapshot);
    out.on_state = std::move(cb.on_state);
    return out;
}

}  // namespace

const char* to_string(ChangeOp op) noexcept {
    switch (op) {
        case ChangeOp::unspecified: return "unspecified";
        case ChangeOp::insert: return "insert";
        case ChangeOp::update: return "update";
        case ChangeOp::remove: return "delete";
        case ChangeOp::truncate: return "truncate";
        case ChangeOp::schema: return "schema";
        case ChangeOp::unpublish: return "unpublish";
        case ChangeOp::resync: return "resync";
    }
    return "?";
}

// The sockets and the set's engine, behind SetSubscriber's pointer so that
// its header needs neither zmq.hpp nor the generated wire types.
struct SetSubscriber::Impl {
    Impl(SetSubscriberOptions options, SetCallbacks callbacks);

    void poll(std::chrono::milliseconds timeout);
    void connect_dealer();
    void on_stream_message(TableSetSync::Clock::time_point now);
    void on_reply(TableSetSync::Clock::time_point now);
    void send_requests(TableSetSync::Clock::time_point now);
    void send(const v1::Request& req);

    SetSubscriberOptions options_;
    zmq::context_t ctx_;
    zmq::socket_t sub_;
    zmq::socket_t dealer_;
    TableSetSync sync_;
    std::uint64_t outstanding_ = 0;  // request id on the wire, 0: none
    TableSetSync::Clock::time_point last_activity_{};
    mutable std::recursive_mutex mutex_;
    bool started_ = false;
    // Last: destroyed (stopped) before the members its step uses.
    PollThread thread_{[this](std::chrono::milliseconds timeout) { poll(timeout); }};
};

SetSubscriber::Impl::Impl(SetSubscriberOptions options, SetCallbacks callbacks)
    : options_(std::move(options)),
      ctx_(1),
      sub_(ctx_, zmq::socket_type::sub),
      sync_(options_.tables, options_.sync, engine_callbacks(std::move(callbacks))) {
    if (options_.publish_endpoints.empty() || options_.snapshot_endpoints.empty())
        throw std::invalid_argument("a subscriber needs a publish and a snapshot endpoint");
    detail::check_curve(options_.curve_server_key, options_.curve_public_key, options_.curve_secret_key);
    sub_.set(zmq::sockopt::linger, 0);
    sub_.set(zmq::sockopt::rcvhwm, 0);  // a gap costs a replay; the relay side bounds the rate
    detail::apply_curve(sub_, options_.curve_server_key, options_.curve_public_key, options_.curve_secret_key);
    for (const auto& t : sync_.tables()) sub_.set(zmq::sockopt::subscribe, t);
    sub_.set(zmq::sockopt::subscribe, transaction_topic);
    for (const auto& ep : options_.publish_endpoints) sub_.connect(ep);
    connect_dealer();
}

void SetSubscriber::Impl::connect_dealer() {
    dealer_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
    dealer_.set(zmq::sockopt::linger, 0);
    detail::apply_curve(dealer_, options_.curve_server_key, options_.curve_public_key, options_.curve_secret_key);
    for (const auto& ep : options_.snapshot_endpoints) dealer_.connect(ep);
}

void SetSubscriber::Impl::send(const v1::Request& req) {
    const auto bytes = req.SerializeAsString();
    // A request that cannot be queued now is retried by the timeout.
    (void)dealer_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void SetSubscriber::Impl::on_stream_message(TableSetSync::Clock::time_point now) {
    std::vector<zmq::message_t> frames;
    for (std::size_t n = 0; n < max_stream_messages_per_step &&
                            zmq::recv_multipart(sub_, std::back_inserter(frames), zmq::recv_flags::dontwait);
         ++n) {
        if (frames.size() == 2) {
            // SUB filters are prefixes: the set's sync checks the exact topic.
            v1::Message msg;
            if (msg.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size())))
                sync_.on_message(frames[0].to_string(), msg, now);
        }
        frames.clear();
        // The rest stays queued for the next poll, after the caller saw the error.
        if (sync_.callback_failed()) return;
    }
}

void SetSubscriber::Impl::on_reply(TableSetSync::Clock::time_point now) {
    zmq::message_t frame;
    while (dealer_.recv(frame, zmq::recv_flags::dontwait)) {
        v1::Reply reply;
        if (!reply.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
        const auto id = reply.request_id();
        if (id == 0 || id != outstanding_) continue;  // a stream we gave up
        last_activity_ = now;
        sync_.on_reply(reply, now);
        switch (reply.kind_case()) {
            case v1::Reply::kSnapshotRows:
            case v1::Reply::kReplayMessages:
                if (sync_.pending_request_id() == id) {
                    v1::Request credit;
                    credit.set_request_id(id);
                    credit.mutable_credit_grant()->set_chunks(1);
                    send(credit);
                }
                break;
            case v1::Reply::kReplayEnd:
            case v1::Reply::kError: outstanding_ = 0; break;
            case v1::Reply::kSnapshotEnd:
                // A multi-table snapshot has one SnapshotEnd per table.
                if (sync_.pending_request_id() != id) outstanding_ = 0;
                break;
            default: break;
        }
        if (sync_.callback_failed()) return;
    }
}

void SetSubscriber::Impl::send_requests(TableSetSync::Clock::time_point now) {
    sync_.tick(now);
    if (outstanding_ != 0 && sync_.pending_request_id() != outstanding_) {
        // The set gave up the stream (a resync superseded a replay, say).
        v1::Request cancel;
        cancel.set_request_id(outstanding_);
        cancel.mutable_cancel();
        send(cancel);
        outstanding_ = 0;
    }
    if (outstanding_ != 0 && now - last_activity_ > options_.request_timeout) {
        const auto id = outstanding_;
        outstanding_ = 0;
        sync_.on_request_failed(id, "no reply from the snapshot endpoint", now);
        // The relay may be gone; a fresh socket drops what was queued for it.
        connect_dealer();
    }
    auto req = sync_.take_request();
    if (!req) return;
    if (outstanding_ != 0) {
        v1::Request cancel;
        cancel.set_request_id(outstanding_);
        cancel.mutable_cancel();
        send(cancel);
    }
    req->set_credit(options_.credit);
    req->set_max_chunk_rows(options_.chunk_rows);
    outstanding_ = req->request_id();
    last_activity_ = now;
    send(*req);
}

void SetSubscriber::Impl::poll(std::chrono::milliseconds timeout) {
    const auto deadline = TableSetSync::Clock::now() + timeout;
    do {
        zmq::pollitem_t items[] = {{sub_.handle(), 0, ZMQ_POLLIN, 0}, {dealer_.handle(), 0, ZMQ_POLLIN, 0}};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - TableSetSync::Clock::now());
        zmq::poll(items, 2, std::max(std::chrono::milliseconds(0), std::min(left, std::chrono::milliseconds(100))));
        std::lock_guard lock(mutex_);
        const auto now = TableSetSync::Clock::now();
        if (!started_) {
            started_ = true;
            sync_.start(now);
        }
        if (items[0].revents & ZMQ_POLLIN) on_stream_message(now);
        if (items[1].revents & ZMQ_POLLIN) on_reply(now);
        send_requests(now);
        // After a complete step: the engine and the request bookkeeping are
        // consistent, so the callback's exception may leave poll().
        if (auto e = sync_.take_callback_error()) std::rethrow_exception(e);
    } while (TableSetSync::Clock::now() < deadline);
}

SetSubscriber::SetSubscriber(SetSubscriberOptions options, SetCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(callbacks))) {}

SetSubscriber::~SetSubscriber() { stop(); }

void SetSubscriber::poll(std::chrono::milliseconds timeout) { impl_->poll(timeout); }

void SetSubscriber::start() { impl_->thread_.start(); }

std::exception_ptr SetSubscriber::failure() const { return impl_->thread_.failure(); }

void SetSubscriber::stop() noexcept { impl_->thread_.stop(); }

SetStatus SetSubscriber::status() const {
    std::lock_guard lock(impl_->mutex_);
    const auto& sync = impl_->sync_;
    SetStatus s;
    s.state = sync.state();
    s.moved_to = sync.moved_to();
    s.reason = sync.reason();
    s.position = sync.position();
    s.latest_position = sync.latest_position();
    s.lag = sync.lag();
    s.lag_seconds = std::chrono::duration<double>(sync.lag_time(std::chrono::system_clock::now())).count();
    s.buffered = sync.buffered();
    s.stale = sync.stale(TableSetSync::Clock::now());
    s.stats = sync.stats();
    for (const auto& t : sync.tables()) s.tables.push_back({t, sync.last_seq(t), sync.mirror(t)->size()});
    return s;
}

void SetSubscriber::read(const std::function<void(const SetView&)>& fn) const {
    std::lock_guard lock(impl_->mutex_);
    fn(SetView(impl_->sync_));
}

void SetSubscriber::with_view(const std::function<void(const TableSetSync&)>& fn) const {
    std::lock_guard lock(impl_->mutex_);
    fn(impl_->sync_);
}

std::uint64_t SetView::position() const noexcept { return sync_.position(); }

std::int64_t SetView::commit_time() const noexcept { return sync_.commit_time(); }

std::size_t SetView::rows(const std::string& table) const {
    const auto* m = sync_.mirror(table);
    return m == nullptr ? 0 : m->size();
}

bool SetView::for_each_row(const std::string& table, const std::function<void(const DatumRow&)>& fn) const {
    const auto* m = sync_.mirror(table);
    if (m == nullptr) return false;
    m->for_each([&](const Mirror::Row& row) {
        DatumRow out;
        for (const auto& [column, value] : row) out.emplace(column, to_datum(value));
        fn(out);
    });
    return true;
}

}  // namespace tablepub
