#include "common/zmq_util.hpp"

#include "common/error.hpp"

#include <spdlog/spdlog.h>

namespace tablepub {

namespace {

// A prefix as a log may show it: a peer chooses its bytes, so anything but
// printable ASCII (and the quote and backslash) is written \xNN.
std::string printable(std::string_view bytes) {
    std::string out;
    for (const unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace

Publisher::Publisher(zmq::context_t& ctx, const std::vector<std::string>& endpoints, int send_hwm,
                     const EndpointSecurity& security, std::string watched_topic)
    : socket_(ctx, watched_topic.empty() ? zmq::socket_type::pub : zmq::socket_type::xpub),
      watched_topic_(std::move(watched_topic)) {
    apply_security(socket_, security);
    socket_.set(zmq::sockopt::sndhwm, send_hwm);
    // A publisher only receives subscriptions: a flag byte and a topic
    // prefix (a table's topic is at most 2 x 63 bytes of name). A peer that
    // sends anything larger is disconnected instead of being buffered.
    socket_.set(zmq::sockopt::maxmsgsize, std::int64_t{MAX_INBOUND_BYTES});
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

bool Publisher::watched_topic_subscribed() {
    if (watched_topic_.empty()) return true;
    // An XPUB keeps every subscription change for the application until it
    // is read: read them all, also to keep that queue short.
    // At most MAX_SUBSCRIPTION_READS per call, so that a peer churning
    // subscriptions cannot keep the relay in this loop; the rest waits for
    // the next call.
    zmq::message_t msg;
    for (int n = 0; n < MAX_SUBSCRIPTION_READS && socket_.recv(msg, zmq::recv_flags::dontwait); ++n) {
        // [1 or 0, prefix]: subscribe or cancel; anything else (an XSUB
        // peer may send other messages) is not a subscription.
        const auto bytes = msg.to_string_view();
        if (bytes.empty() || (bytes[0] != 0 && bytes[0] != 1)) continue;
        const auto prefix = bytes.substr(1);
        // Tests start a relay standing by and wait for this line, so that
        // it cannot publish before their subscriber is known (a subscriber
        // that connects before the bind may subscribe after the first batch).
        if (spdlog::should_log(spdlog::level::debug)) {
            spdlog::debug("subscription {} \"{}\"", bytes[0] == 1 ? "added" : "cancelled", printable(prefix));
        }
        if (!watched_topic_.starts_with(prefix)) continue;
        if (bytes[0] == 1) {
            watching_.emplace(prefix);
        } else if (const auto it = watching_.find(prefix); it != watching_.end()) {
            watching_.erase(it);
        }
    }
    return !watching_.empty();
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

std::vector<std::string> every_topic_but(std::string_view topic) {
    std::vector<std::string> out;
    // (no NUL: names never contain it)
    for (std::size_t i = 0; i <= topic.size(); ++i) {
        for (int c = 1; c < 256; ++c) {
            if (i < topic.size() && static_cast<char>(c) == topic[i]) continue;
            std::string p(topic.substr(0, i));
            p.push_back(static_cast<char>(c));
            out.push_back(std::move(p));
        }
    }
    return out;
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
