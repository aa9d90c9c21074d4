#include "tablepub/set_subscriber.hpp"

#include <stdexcept>

#include <zmq_addon.hpp>

#include "curve_keys.hpp"

namespace tablepub {

SetSubscriber::SetSubscriber(SetSubscriberOptions options, SetCallbacks callbacks)
    : options_(std::move(options)),
      ctx_(1),
      sub_(ctx_, zmq::socket_type::sub),
      sync_(options_.tables, options_.sync, std::move(callbacks)) {
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

SetSubscriber::~SetSubscriber() { stop(); }

void SetSubscriber::connect_dealer() {
    dealer_ = zmq::socket_t(ctx_, zmq::socket_type::dealer);
    dealer_.set(zmq::sockopt::linger, 0);
    detail::apply_curve(dealer_, options_.curve_server_key, options_.curve_public_key, options_.curve_secret_key);
    for (const auto& ep : options_.snapshot_endpoints) dealer_.connect(ep);
}

void SetSubscriber::send(const v1::Request& req) {
    const auto bytes = req.SerializeAsString();
    // A request that cannot be queued now is retried by the timeout.
    (void)dealer_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
}

void SetSubscriber::on_stream_message(TableSetSync::Clock::time_point now) {
    std::vector<zmq::message_t> frames;
    while (zmq::recv_multipart(sub_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        if (frames.size() == 2) {
            // SUB filters are prefixes: the set's sync checks the exact topic.
            v1::Message msg;
            if (msg.ParseFromArray(frames[1].data(), static_cast<int>(frames[1].size())))
                sync_.on_message(frames[0].to_string(), msg, now);
        }
        frames.clear();
    }
}

void SetSubscriber::on_reply(TableSetSync::Clock::time_point now) {
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
    }
}

void SetSubscriber::send_requests(TableSetSync::Clock::time_point now) {
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

void SetSubscriber::poll(std::chrono::milliseconds timeout) {
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
    } while (TableSetSync::Clock::now() < deadline);
}

void SetSubscriber::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] {
        while (running_) poll(std::chrono::milliseconds(100));
    });
}

void SetSubscriber::stop() noexcept {
    running_ = false;
    if (thread_.joinable()) thread_.join();
}

SetStatus SetSubscriber::status() const {
    std::lock_guard lock(mutex_);
    SetStatus s;
    s.state = sync_.state();
    s.reason = sync_.reason();
    s.position = sync_.position();
    s.latest_position = sync_.latest_position();
    s.lag = sync_.lag();
    s.lag_seconds = std::chrono::duration<double>(sync_.lag_time(std::chrono::system_clock::now())).count();
    s.buffered = sync_.buffered();
    s.stale = sync_.stale(TableSetSync::Clock::now());
    s.stats = sync_.stats();
    for (const auto& t : sync_.tables()) s.tables.push_back({t, sync_.last_seq(t), sync_.mirror(t)->size()});
    return s;
}

void SetSubscriber::with_view(const std::function<void(const TableSetSync&)>& fn) const {
    std::lock_guard lock(mutex_);
    fn(sync_);
}

}  // namespace tablepub
