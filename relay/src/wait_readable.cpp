#include "relay/wait_readable.hpp"

#include <algorithm>
#include <cerrno>

#include <zmq.hpp>

namespace tablepub {

void wait_readable(int fd_a, int fd_b, std::chrono::milliseconds timeout) {
    zmq::pollitem_t items[2];
    int n = 0;
    for (const int fd : {fd_a, fd_b})
        if (fd >= 0) items[n++] = {nullptr, fd, ZMQ_POLLIN, 0};
    try {
        zmq::poll(items, static_cast<std::size_t>(n), std::max(timeout, std::chrono::milliseconds(0)));
    } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
    }
}

}  // namespace tablepub
