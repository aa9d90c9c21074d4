// What the relay reports about its work, for monitoring (relay --metrics).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/sequencer.hpp"

namespace tablepub {

class PgConnection;

enum class RelayRole { connecting, standby, active };

// One outbox partition as the periodic size query sees it.
struct OutboxPartition {
    std::string name;  // outbox_0, ...
    double rows = 0;   // live rows (the statistics collector's estimate)
    double bytes = 0;  // table, index and TOAST
};

// Called by the relay's thread at most a few times per batch, never per
// message. The defaults do nothing: a relay without --metrics pays one
// virtual call per event.
class RelayObserver {
public:
    using clock = std::chrono::steady_clock;
    virtual ~RelayObserver() = default;

    virtual void set_role(RelayRole) {}
    virtual void reconnect() {}
    // An error the relay recovered from: connection_lost, database.
    virtual void error(std::string_view) {}
    // Everything committed before `as_of` is published (at activation).
    virtual void published_as_of(clock::time_point) {}
    // A batch whose snapshot was taken at or after `taken` is in hand;
    // `xids` transaction ids separate its snapshot from the previous one.
    virtual void batch_in_hand(clock::time_point, std::uint64_t) {}
    // The relay looked and found nothing to publish.
    virtual void caught_up(clock::time_point) {}
    // The batch in hand was published and marked done.
    virtual void batch_done(clock::duration, const std::vector<StreamUpdate>&) {}
    virtual void heartbeat() {}
    virtual void maintained(bool) {}
    // Zero: the relay does not read the outbox sizes.
    [[nodiscard]] virtual std::chrono::milliseconds outbox_interval() const { return std::chrono::milliseconds(0); }
    virtual void outbox(const std::vector<OutboxPartition>&) {}
};

// The size of each outbox partition: one cheap catalog query (statistics
// and relation sizes, no scan of the outbox).
[[nodiscard]] std::vector<OutboxPartition> read_outbox_partitions(PgConnection& conn);

// Transaction ids assigned between two snapshots: xmax of `snap` minus xmax
// of `prev` (pg_snapshot text "xmin:xmax:xip"), 0 when not larger.
[[nodiscard]] std::uint64_t xids_between(const std::string& prev, const std::string& snap) noexcept;

// Seconds since the snapshot of the last batch the relay marked done was
// taken (when that batch is gone: since it was marked done), by the
// database's clock.
[[nodiscard]] double published_age_seconds(PgConnection& conn);

}  // namespace tablepub
