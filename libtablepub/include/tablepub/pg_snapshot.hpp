// The visibility rule that lines a snapshot up with the delta stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tablepub {

namespace v1 {
class SnapshotBegin;
}

// A PostgreSQL transaction snapshot (pg_snapshot / xid8 values): the set of
// transactions whose effects a REPEATABLE READ transaction sees.
struct PgSnapshot {
    std::uint64_t xmin = 0;
    std::uint64_t xmax = 0;
    std::vector<std::uint64_t> xip;  // ascending

    // A change made by transaction `txid` is contained in the snapshot's
    // data exactly when this is true (same rule as pg_visible_in_snapshot).
    [[nodiscard]] bool visible(std::uint64_t txid) const noexcept;

    // From the header of a snapshot stream; xip is sorted if it was not.
    [[nodiscard]] static PgSnapshot from(const v1::SnapshotBegin& begin);

    // From pg_snapshot's text form "xmin:xmax:xip1,xip2,..."; nullopt when
    // malformed or inconsistent (xmin > xmax, xip outside [xmin, xmax)).
    [[nodiscard]] static std::optional<PgSnapshot> parse(std::string_view text);
};

}  // namespace tablepub
