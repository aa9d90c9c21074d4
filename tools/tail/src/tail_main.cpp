// tablepub-tail: prints what a tablepub relay publishes, one JSON object a line.
#include <csignal>
#include <iostream>

#include <zmq.hpp>

#include "tablepub.pb.h"
#include "common/error.hpp"
#include "tail/tail_follow.hpp"
#include "common/change_json.hpp"
#include "tail/tail_gaps.hpp"
#include "tail/tail_options.hpp"
#include "common/zmq_util.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_dump = 0;

void on_signal(int) { g_stop = 1; }
void on_dump(int) { g_dump = 1; }

}  // namespace

int main(int argc, char** argv) {
    const auto parsed =
        tablepub::parse_tail_options(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
    if (const int* code = std::get_if<int>(&parsed)) return *code;
    const auto& options = std::get<tablepub::TailOptions>(parsed);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGUSR1, on_dump);
    try {
        if (options.subscriber_mode())
            return tablepub::run_tail_subscriber(options, {&g_stop, &g_dump}, std::cout, std::cerr);
        zmq::context_t ctx(1);
        const std::vector<std::string> prefixes =
            options.tables.empty() ? std::vector<std::string>{""} : options.tables;
        auto sub = tablepub::make_subscriber(
            ctx, options.connect, prefixes,
            tablepub::load_curve_client(options.curve_server_key, options.curve_client_key));
        sub.set(zmq::sockopt::rcvtimeo, 200);
        tablepub::v1::Message msg;
        tablepub::TailGaps gaps;
        std::uint64_t printed = 0;
        while (g_stop == 0) {
            zmq::message_t topic, body;
            try {
                if (!sub.recv(topic)) continue;
            } catch (const zmq::error_t& e) {
                if (e.num() == EINTR) continue;
                throw;
            }
            while (!topic.more()) {
                // A stray single frame: resynchronise on the next message.
                if (!sub.recv(topic)) break;
            }
            if (!sub.recv(body)) continue;
            const auto t = topic.to_string_view();
            if (!tablepub::topic_selected(options, t)) continue;
            if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
                std::cerr << "tablepub-tail: dropped a message on " << t << " that is not a tablepub.v1.Message\n";
                continue;
            }
            if (const auto gap = gaps.on_message(t, msg))
                std::cerr << "tablepub-tail: " << tablepub::describe(*gap) << std::endl;
            if (msg.has_heartbeat() && !options.heartbeats) continue;
            std::cout << tablepub::json_line(tablepub::message_to_json(t, msg, options.bytes)) << std::endl;
            if (!msg.has_heartbeat() && options.count != 0 && ++printed >= options.count) break;
        }
        std::cout.flush();
        if (gaps.gaps() == 0) return 0;
        std::cerr << "tablepub-tail: " << gaps.gaps() << " gap(s), " << gaps.missing()
                  << " message(s) never received; the output is incomplete" << std::endl;
        return options.allow_gaps ? 0 : 3;
    } catch (const std::exception& e) {
        std::cerr << "tablepub-tail: " << e.what() << "\n";
        return 1;
    }
}
