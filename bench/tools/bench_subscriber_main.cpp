// tablepub-bench-subscriber: counts the changes a relay publishes, as fast as
// a subscriber can, for bench/throughput.sh. Checks that every table's
// sequence numbers are contiguous (a gap means ZeroMQ dropped messages, which
// would make the figure meaningless) and prints one line:
//   <changes> <seconds from first to last change> <gaps> <unix time of the last change>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <unordered_map>

#include <zmq.hpp>

#include "tablepub.pb.h"

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        std::cerr << "usage: tablepub-bench-subscriber ENDPOINT EXPECTED_CHANGES IDLE_TIMEOUT_MS [TOPIC_PREFIX]\n";
        return 2;
    }
    const std::string endpoint = argv[1];
    const std::uint64_t expected = std::stoull(argv[2]);
    const int idle_ms = std::stoi(argv[3]);

    zmq::context_t ctx(1);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::rcvhwm, 0);
    // Default: every topic (the table topics and ".tx"); a prefix such as
    // "public." measures a subscriber of tables only.
    sub.set(zmq::sockopt::subscribe, argc > 4 ? std::string(argv[4]) : std::string());
    sub.set(zmq::sockopt::rcvtimeo, idle_ms);
    sub.connect(endpoint);
    std::cout << "ready" << std::endl;

    using clock = std::chrono::steady_clock;
    clock::time_point first{}, last{};
    std::uint64_t changes = 0, gaps = 0;
    std::unordered_map<std::string, std::uint64_t> last_seq;
    tablepub::v1::Message msg;
    zmq::message_t topic, body;
    while (changes < expected) {
        if (!sub.recv(topic)) break;  // idle timeout
        if (!topic.more() || !sub.recv(body)) continue;
        if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size()))) continue;
        if (!msg.has_change()) continue;
        const auto now = clock::now();
        if (changes == 0) first = now;
        last = now;
        auto& seq = last_seq[topic.to_string()];
        if (seq != 0 && msg.seq() != seq + 1) ++gaps;
        seq = msg.seq();
        if (msg.change().op() != tablepub::v1::SCHEMA) ++changes;
    }
    const double seconds = std::chrono::duration<double>(last - first).count();
    const double last_unix =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
        std::chrono::duration<double>(clock::now() - last).count();
    std::cout << changes << ' ' << seconds << ' ' << gaps << ' ' << std::fixed << last_unix << std::endl;
    return changes == expected && gaps == 0 ? 0 : 1;
}
