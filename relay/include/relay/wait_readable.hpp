// Waiting for file descriptors with a timeout that may already have passed.
#pragma once

#include <chrono>

namespace tablepub {

// Blocks until fd_a or fd_b (either may be -1: not watched) is readable, a
// signal interrupts the wait, or `timeout` has passed. A timeout of zero or
// less does not wait: it comes from a deadline that passed while the thread
// was preempted, and zmq_poll would take a negative one as "forever".
void wait_readable(int fd_a, int fd_b, std::chrono::milliseconds timeout);

}  // namespace tablepub
