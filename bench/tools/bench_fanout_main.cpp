// tablepub-bench-fanout: ZeroMQ fan-out of one publisher to N local
// subscribers, for bench/scaling.sh (docs/scaling.md).
//
//   tablepub-bench-fanout direct|proxy SUBSCRIBERS MESSAGES SIZE
//
// One process, three roles on 127.0.0.1 TCP: a PUB socket (the relay's
// role: a topic frame and a SIZE-byte body per message), in "proxy" mode
// libzmq's zmq_proxy between an XSUB and an XPUB socket, and SUBSCRIBERS
// SUB sockets read by one thread that only counts. The publisher stays at
// most WINDOW messages ahead of the slowest subscriber (the high-water marks
// are unlimited, so nothing is dropped, and this bounds the memory). Before
// timing, the publisher sends warm-up messages until every subscriber got
// one (a SUB's subscription takes a moment to arrive). Prints one line:
//   <subscribers> <messages> <seconds> <messages/s per subscriber> <deliveries/s>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

namespace {

constexpr std::uint64_t WINDOW = 10000;
const std::string TOPIC = "public.bench";
const std::string WARMUP = "warmup";

std::string bound_endpoint(zmq::socket_t& s) {
    s.bind("tcp://127.0.0.1:*");
    return s.get(zmq::sockopt::last_endpoint);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5 || (std::string(argv[1]) != "direct" && std::string(argv[1]) != "proxy")) {
        std::cerr << "usage: tablepub-bench-fanout direct|proxy SUBSCRIBERS MESSAGES SIZE\n";
        return 2;
    }
    const bool proxy = std::string(argv[1]) == "proxy";
    const std::size_t n = std::stoul(argv[2]);
    const std::uint64_t messages = std::stoull(argv[3]);
    const std::size_t size = std::stoul(argv[4]);

    zmq::context_t ctx(2);
    zmq::socket_t pub(ctx, zmq::socket_type::pub);
    pub.set(zmq::sockopt::sndhwm, 0);
    pub.set(zmq::sockopt::linger, 0);
    std::string endpoint = bound_endpoint(pub);

    zmq::socket_t xsub(ctx, zmq::socket_type::xsub), xpub(ctx, zmq::socket_type::xpub);
    std::thread proxy_thread;
    if (proxy) {
        for (auto* s : {&xsub, &xpub}) {
            s->set(zmq::sockopt::sndhwm, 0);
            s->set(zmq::sockopt::rcvhwm, 0);
            s->set(zmq::sockopt::linger, 0);
        }
        xsub.connect(endpoint);
        endpoint = bound_endpoint(xpub);
        // Runs until the context is shut down at the end.
        proxy_thread = std::thread([&] {
            try {
                zmq::proxy(xsub, xpub);
            } catch (const zmq::error_t&) {
            }
        });
    }

    std::vector<zmq::socket_t> subs;
    for (std::size_t i = 0; i < n; ++i) {
        subs.emplace_back(ctx, zmq::socket_type::sub);
        subs.back().set(zmq::sockopt::rcvhwm, 0);
        subs.back().set(zmq::sockopt::linger, 0);
        subs.back().set(zmq::sockopt::subscribe, "");
        subs.back().connect(endpoint);
    }

    std::unique_ptr<std::atomic<std::uint64_t>[]> counts(new std::atomic<std::uint64_t>[n]);
    for (std::size_t i = 0; i < n; ++i) counts[i] = 0;
    std::atomic<bool> ready{false};

    // The subscribers' thread: warm-up first, then counting.
    std::thread receiver([&] {
        std::vector<zmq::pollitem_t> items;
        for (auto& s : subs) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
        std::vector<bool> warm(n, false);
        std::size_t warm_count = 0, done = 0;
        zmq::message_t topic, body;
        while (done < n) {
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
            for (std::size_t i = 0; i < n; ++i) {
                if (!(items[i].revents & ZMQ_POLLIN)) continue;
                while (subs[i].recv(topic, zmq::recv_flags::dontwait)) {
                    (void)subs[i].recv(body);
                    if (topic.to_string_view() == WARMUP) {
                        if (!warm[i]) {
                            warm[i] = true;
                            if (++warm_count == n) ready = true;
                        }
                        continue;
                    }
                    if (counts[i].fetch_add(1, std::memory_order_relaxed) + 1 == messages) ++done;
                }
            }
        }
    });

    while (!ready) {
        pub.send(zmq::buffer(WARMUP), zmq::send_flags::sndmore);
        pub.send(zmq::str_buffer("-"), zmq::send_flags::none);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Warm-up messages still in flight are ignored by the counters.
    const std::string payload(size, 'x');
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t sent = 0; sent < messages; ++sent) {
        if (sent % 1000 == 0) {
            for (;;) {
                std::uint64_t slowest = messages;
                for (std::size_t i = 0; i < n; ++i) slowest = std::min<std::uint64_t>(slowest, counts[i].load());
                if (sent < slowest + WINDOW) break;
                std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        }
        pub.send(zmq::buffer(TOPIC), zmq::send_flags::sndmore);
        pub.send(zmq::buffer(payload), zmq::send_flags::none);
    }
    receiver.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double per_subscriber = static_cast<double>(messages) / seconds;
    std::cout << n << ' ' << messages << ' ' << seconds << ' ' << static_cast<std::uint64_t>(per_subscriber) << ' '
              << static_cast<std::uint64_t>(static_cast<double>(n) * per_subscriber) << std::endl;
    subs.clear();
    pub.close();
    // The proxy thread owns xsub and xpub until the shutdown ends its loop.
    ctx.shutdown();
    if (proxy_thread.joinable()) proxy_thread.join();
    xsub.close();
    xpub.close();
    return 0;
}
