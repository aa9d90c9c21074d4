// The background thread of Subscriber::start() and SetSubscriber::start().
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace tablepub {

// Runs a poll step over and over until stop() or until the step throws. An
// exception must not end the process (std::terminate, what an exception
// leaving a std::thread does): the thread stops and keeps it for failure();
// start() after a failure clears it and starts again.
class PollThread {
public:
    using Step = std::function<void(std::chrono::milliseconds timeout)>;

    explicit PollThread(Step step) : step_(std::move(step)) {}
    ~PollThread() { stop(); }
    PollThread(const PollThread&) = delete;
    PollThread& operator=(const PollThread&) = delete;

    void start() {
        if (running_.exchange(true)) return;
        if (thread_.joinable()) thread_.join();  // it ended on a failure
        {
            std::lock_guard lock(mutex_);
            failure_ = nullptr;
        }
        thread_ = std::thread([this] { run(); });
    }

    void stop() noexcept {
        running_ = false;
        if (thread_.joinable()) thread_.join();
    }

    [[nodiscard]] std::exception_ptr failure() const {
        std::lock_guard lock(mutex_);
        return failure_;
    }

private:
    void run() noexcept {
        try {
            while (running_) step_(std::chrono::milliseconds(100));
        } catch (...) {
            std::lock_guard lock(mutex_);
            failure_ = std::current_exception();
            running_ = false;
        }
    }

    Step step_;
    std::thread thread_;
    std::atomic<bool> running_{false};
    mutable std::mutex mutex_;
    std::exception_ptr failure_;  // what ended the thread (under mutex_)
};

}  // namespace tablepub
