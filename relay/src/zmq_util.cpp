#include "tablepub/zmq_util.hpp"

#include "tablepub/error.hpp"

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

zmq::socket_t make_subscriber(zmq::context_t& ctx, const std::vector<std::string>& endpoints,
                              const std::vector<std::string>& prefixes, const CurveClient& curve) {
    zmq::socket_t sock(ctx, zmq::socket_type::sub);
    apply_curve_client(sock, curve);
    sock.set(zmq::sockopt::rcvhwm, 0);
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
