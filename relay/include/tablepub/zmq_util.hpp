#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "tablepub/bus_security.hpp"

namespace tablepub {

// A PUB socket bound to one or more endpoints; sends [topic, body] pairs.
class Publisher {
public:
    // Binds every endpoint with the given security; throws ConfigError
    // naming the endpoint that failed.
    Publisher(zmq::context_t& ctx, const std::vector<std::string>& endpoints, int send_hwm,
              const EndpointSecurity& security = {});

    // Queues one message; ZeroMQ drops it for a subscriber whose queue is
    // at the high-water mark (the subscriber sees the seq gap).
    void send(std::string_view topic, std::string_view body);

    [[nodiscard]] zmq::socket_t& socket() noexcept { return socket_; }

private:
    zmq::socket_t socket_;
};

// A SUB socket connected to endpoints and subscribed to topic prefixes.
[[nodiscard]] zmq::socket_t make_subscriber(zmq::context_t& ctx, const std::vector<std::string>& endpoints,
                                            const std::vector<std::string>& prefixes, const CurveClient& curve = {});

}  // namespace tablepub
