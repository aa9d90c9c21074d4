#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "common/bus_security.hpp"
#include "common/wire.hpp"

namespace tablepub {

// A PUB socket bound to one or more endpoints; sends [topic, body] pairs.
// With a watched topic it is an XPUB instead, which also tells whether some
// subscriber receives that topic (so that its messages are built only then).
class Publisher {
public:
    // Binds every endpoint with the given security; throws ConfigError
    // naming the endpoint that failed.
    Publisher(zmq::context_t& ctx, const std::vector<std::string>& endpoints, int send_hwm,
              const EndpointSecurity& security = {}, std::string watched_topic = {});

    // Queues one message; ZeroMQ drops it for a subscriber whose queue is
    // at the high-water mark (the subscriber sees the seq gap).
    void send(std::string_view topic, std::string_view body);
    // The same; a body of ZERO_COPY_BYTES or more is taken over (body.bytes
    // is left empty) and handed to ZeroMQ without a copy: every subscriber's
    // queue shares it, and it is freed when the last one has sent it.
    void send(std::string_view topic, HeadroomBuffer& body);

    // Bytes of taken-over bodies that ZeroMQ has not freed yet.
    [[nodiscard]] std::size_t queued_bytes() const noexcept { return queued_->load(); }

    [[nodiscard]] zmq::socket_t& socket() noexcept { return socket_; }

    // Whether a subscription of some connected subscriber matches the
    // watched topic (ZeroMQ's prefix match: "", ".", ".t", ".tx" all match
    // ".tx"), after taking the subscription changes that came in since the
    // last call. ZeroMQ reports a subscription when its first subscriber
    // makes it and its cancellation when the last one cancels it or
    // disconnects. A subscription ZeroMQ has applied but this call has not
    // seen yet only means that subscriber misses some messages of the
    // topic at its start, as with any subscription. Without a watched
    // topic: always true.
    [[nodiscard]] bool watched_topic_subscribed();

    static constexpr std::size_t ZERO_COPY_BYTES = 64 * 1024;
    // The largest message a subscriber may send (a subscription).
    static constexpr int MAX_INBOUND_BYTES = 1024;
    // Subscription changes taken per watched_topic_subscribed() call.
    static constexpr int MAX_SUBSCRIPTION_READS = 10000;

private:
    zmq::socket_t socket_;
    std::string watched_topic_;
    // The subscriptions matching the watched topic (its prefixes: bounded).
    std::set<std::string, std::less<>> watching_;
    // Shared with the free callbacks, which run on ZeroMQ's I/O thread and
    // may outlive this object while the context lingers.
    std::shared_ptr<std::atomic<std::size_t>> queued_ = std::make_shared<std::atomic<std::size_t>>(0);
};

// ZeroMQ subscriptions (prefixes) that match every topic but `topic` and
// its proper prefixes (which no prefix excluding `topic` can match; no
// table topic is as short as ".t"): every proper prefix of the topic
// followed by any other byte, and the topic followed by any byte. every_topic_but(".tx") is what a
// subscriber of every table subscribes to, so that the relay need not build
// the transaction topic for it (several hundred prefixes; ZeroMQ's
// subscription trie keeps them cheap to match).
[[nodiscard]] std::vector<std::string> every_topic_but(std::string_view topic);

// A SUB socket connected to endpoints and subscribed to topic prefixes,
// queueing at most receive_hwm messages per connection (0: no limit).
[[nodiscard]] zmq::socket_t make_subscriber(zmq::context_t& ctx, const std::vector<std::string>& endpoints,
                                            const std::vector<std::string>& prefixes, const CurveClient& curve = {},
                                            int receive_hwm = 0);

}  // namespace tablepub
