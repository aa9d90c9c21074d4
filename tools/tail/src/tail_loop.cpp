#include "tail/tail_loop.hpp"

#include <cerrno>
#include <exception>
#include <ostream>

#include <zmq.hpp>

namespace tablepub {

namespace {

// Short enough that a stop or dump signal is seen promptly even when
// poll() was not interrupted by it.
constexpr std::chrono::milliseconds POLL_INTERVAL{100};

}  // namespace

int follow_loop(const TailOptions& options, TailSignals signals, const bool& done,
                const std::function<void(std::chrono::milliseconds)>& poll,
                const std::function<void(std::uint64_t)>& dump, std::ostream& out, std::ostream& err) {
    std::uint64_t dumps = 0;
    int status = 0;
    while (*signals.stop == 0 && !done) {
        try {
            poll(POLL_INTERVAL);
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) throw;
        }
        out.flush();
        if (*signals.dump != 0) {
            *signals.dump = 0;
            if (options.mirror.empty()) continue;
            try {
                dump(++dumps);
            } catch (const std::exception& e) {
                err << "tablepub-tail: " << e.what() << std::endl;
                status = 1;
            }
        }
    }
    out.flush();
    if (!options.mirror.empty()) {
        try {
            dump(++dumps);
        } catch (const std::exception& e) {
            err << "tablepub-tail: " << e.what() << std::endl;
            return 1;
        }
    }
    return status;
}

}  // namespace tablepub
