// tablepub-tail: prints what a tablepub relay publishes, one JSON object a line.
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "tail/tail_follow.hpp"
#include "tail/tail_options.hpp"
#include "tail/tail_stream.hpp"
#include "tail/tail_tx.hpp"

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
        if (options.tx) return tablepub::run_tail_transactions(options, {&g_stop, &g_dump}, std::cout, std::cerr);
        if (options.subscriber_mode())
            return tablepub::run_tail_subscriber(options, {&g_stop, &g_dump}, std::cout, std::cerr);
        return tablepub::run_tail_stream(options, &g_stop, STDOUT_FILENO, std::cerr);
    } catch (const std::exception& e) {
        std::cerr << "tablepub-tail: " << e.what() << "\n";
        return 1;
    }
}
