// Tells systemd (Type=notify) when the relay is ready and what it is doing.
#pragma once

#include "relay/relay_observer.hpp"

namespace tablepub {

// Sends READY=1 once the relay is active or standing by (connected to the
// database), and STATUS= lines on role changes, through libsystemd's
// sd_notify; without $NOTIFY_SOCKET (not under systemd) it does nothing.
// Forwards every event to `next` (the metrics, or a no-op observer).
class SystemdNotifier final : public RelayObserver {
public:
    explicit SystemdNotifier(RelayObserver& next) noexcept : next_(next) {}

    void set_role(RelayRole role) override;
    void reconnect() override { next_.reconnect(); }
    void error(std::string_view kind) override { next_.error(kind); }
    void published_as_of(clock::time_point t) override { next_.published_as_of(t); }
    void batch_in_hand(clock::time_point t, std::uint64_t xids) override { next_.batch_in_hand(t, xids); }
    void caught_up(clock::time_point t) override { next_.caught_up(t); }
    void batch_done(clock::duration took, const std::vector<StreamUpdate>& u) override { next_.batch_done(took, u); }
    void heartbeat() override { next_.heartbeat(); }
    void maintained(bool ok) override { next_.maintained(ok); }
    [[nodiscard]] std::chrono::milliseconds outbox_interval() const override { return next_.outbox_interval(); }
    void outbox(const std::vector<OutboxPartition>& p) override { next_.outbox(p); }

    // STOPPING=1, when a stop was requested.
    static void stopping() noexcept;

private:
    RelayObserver& next_;
    bool ready_sent_ = false;
};

}  // namespace tablepub
