// Runs the user's callbacks for a sync engine and keeps the first
// exception one throws, so that the engine finishes the step it is in
// (the change is applied, counted and the state moved exactly as without
// the callback) and the driver (Subscriber, SetSubscriber) rethrows it once
// the step is done, outside the engine (docs/design.md, "Exceptions from
// callbacks").
#pragma once

#include <exception>
#include <utility>

namespace tablepub {

class CallbackError {
public:
    // Calls f(args...) if f is set. An exception it throws is kept if it is
    // the first since the last take(); later ones are dropped (the first
    // one says what went wrong first).
    template <class F, class... Args>
    void call(const F& f, Args&&... args) noexcept {
        if (!f) return;
        try {
            f(std::forward<Args>(args)...);
        } catch (...) {
            if (!error_) error_ = std::current_exception();
        }
    }

    [[nodiscard]] bool failed() const noexcept { return static_cast<bool>(error_); }
    // The kept exception (null if none), and forget it.
    [[nodiscard]] std::exception_ptr take() noexcept { return std::exchange(error_, nullptr); }

private:
    std::exception_ptr error_;
};

}  // namespace tablepub
