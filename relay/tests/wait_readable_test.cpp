// wait_readable: the relay's only blocking wait besides libpq.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include <gtest/gtest.h>

#include "relay/wait_readable.hpp"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

struct Pipe {
    int fd[2] = {-1, -1};
    Pipe() { EXPECT_EQ(::pipe2(fd, O_NONBLOCK | O_CLOEXEC), 0); }
    ~Pipe() {
        ::close(fd[0]);
        ::close(fd[1]);
    }
    void wake() const {
        const char c = 'x';
        EXPECT_EQ(::write(fd[1], &c, 1), 1);
    }
};

// Runs wait_readable in a thread; true if it returned within `bound`. A
// wait that would block for good is ended through the pipe so that the test
// fails instead of hanging.
bool returns(const Pipe& p, int other_fd, std::chrono::milliseconds timeout, std::chrono::seconds bound) {
    auto done = std::async(std::launch::async, [&] { wait_readable(p.fd[0], other_fd, timeout); });
    const bool returned = done.wait_for(bound) == std::future_status::ready;
    if (!returned) p.wake();
    done.get();
    return returned;
}

// A deadline that passed while the relay's thread was preempted gives a
// negative timeout; zmq_poll takes a negative timeout as "wait forever"
// (the relay once hung for 92 s before publishing, until SIGTERM). Nothing
// becomes readable here: only the timeout can end the wait.
TEST(WaitReadable, NegativeTimeoutDoesNotWait) {
    Pipe stop, idle;
    EXPECT_TRUE(returns(stop, idle.fd[0], -1ms, 30s));
    EXPECT_TRUE(returns(stop, -1, -250ms, 30s));
    EXPECT_TRUE(returns(stop, -1, 0ms, 30s));
}

TEST(WaitReadable, ReturnsWhenEitherDescriptorIsReadable) {
    Pipe stop, other;
    other.wake();
    EXPECT_TRUE(returns(stop, other.fd[0], std::chrono::hours(1), 30s));
    stop.wake();
    EXPECT_TRUE(returns(stop, -1, std::chrono::hours(1), 30s));
}

}  // namespace
}  // namespace tablepub
