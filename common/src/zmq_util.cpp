#include "common/zmq_util.hpp"

#include "common/error.hpp"

namespace tablepub {

Publisher::Publisher(zmq::context_t& ctx, const std::vector<std::string>& endpoints, int send_hwm,
                     const EndpointSecurity& security)
    : socket_(ctx, zmq::socket_type::pub) {
    apply_security(socket_, security);
    socket_.set(zmq::sockopt::sndhwm, send_hwm);
    // Give queued messages a moment to leave on shutdown, but never hang.
    socket_.set(zmq::sockopt::linger, 2000);
    for (const auto& ep : endpoints) {
        try {
            socket_.bind(ep);
        } catch (const zmq::error_t& e) {
            throw ConfigError("cannot bind " + ep + ": " + e.what(), "", ep);
        }
    }
}

void Publisher::send(std::string_view topic, std::string_view body) {
    socket_.send(zmq::const_buffer(topic.data(), topic.size()), zmq::send_flags::sndmore);
    socket_.send(zmq::const_buffer(body.data(), body.size()), zmq::send_flags::none);
}

namespace {

// Owns a taken-over message body until ZeroMQ frees it.
struct ZeroCopyBody {
    std::string bytes;
    std::size_t size;
    std::shared_ptr<std::atomic<std::size_t>> queued;
};

void free_body(void*, void* hint) noexcept {
    auto* body = static_cast<ZeroCopyBody*>(hint);
    body->queued->fetch_sub(body->size);
    delete body;
}

}  // namespace

void Publisher::send(std::string_view topic, HeadroomBuffer& body) {
    const std::string_view view = body.view();
    if (view.size() < ZERO_COPY_BYTES) {
        send(topic, view);
        return;
    }
    const std::size_t offset = std::min(body.offset, body.bytes.size());
    auto owned = std::make_unique<ZeroCopyBody>(ZeroCopyBody{std::move(body.bytes), view.size(), queued_});
    body.bytes = std::string();
    body.offset = 0;
    char* data = owned->bytes.data() + offset;
    zmq::message_t msg(data, owned->size, free_body, owned.get());
    queued_->fetch_add(owned->size);
    (void)owned.release();  // msg owns it now; free_body deletes it
    socket_.send(zmq::const_buffer(topic.data(), topic.size()), zmq::send_flags::sndmore);
    socket_.send(msg, zmq::send_flags::none);
}

zmq::socket_t make_subscriber(zmq::context_t& ctx, const std::vector<std::string>& endpoints,
                              const std::vector<std::string>& prefixes, const CurveClient& curve, int receive_hwm) {
    zmq::socket_t sock(ctx, zmq::socket_type::sub);
    apply_curve_client(sock, curve);
    sock.set(zmq::sockopt::rcvhwm, receive_hwm);
    for (const auto& p : prefixes) sock.set(zmq::sockopt::subscribe, p);
    for (const auto& ep : endpoints) {
        try {
            sock.connect(ep);
        } catch (const zmq::error_t& e) {
            throw ConfigError("cannot connect to " + ep + ": " + e.what(), "", ep);
        }
    }
    return sock;
}

}  // namespace tablepub
