// Waiting for the exceptions a subscriber's callbacks throw, for the
// Subscriber and SetSubscriber integration tests (docs/design.md,
// "Exceptions from callbacks").
#pragma once

#include <chrono>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace testutil {

// Calls sub.poll(100 ms) until `count` std::runtime_errors came out of it
// or `timeout` passed, and returns how many came; each one's what() must be
// expected() at the moment it is caught (the callback records what it
// throws).
template <class Sub, class Expected>
int poll_until_exceptions(Sub& sub, int count, const Expected& expected,
                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
    int caught = 0;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (caught < count && std::chrono::steady_clock::now() < until) {
        try {
            sub.poll(std::chrono::milliseconds(100));
        } catch (const std::runtime_error& e) {
            ++caught;
            EXPECT_EQ(std::string(e.what()), expected());
        }
    }
    return caught;
}

// What the thread of sub.start() ended with, or null if it still runs after
// `timeout`.
template <class Sub>
std::exception_ptr wait_failure(const Sub& sub, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (auto e = sub.failure()) return e;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return nullptr;
}

// The message of a std::runtime_error in `e` (anything else is rethrown:
// the test fails on it).
inline std::string what(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::runtime_error& ex) {
        return ex.what();
    }
}

}  // namespace testutil
