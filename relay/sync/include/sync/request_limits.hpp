// Limits of the snapshot endpoint on what a client may send: a request is
// checked against them before anything is allocated or asked of the
// database for it (docs/protocol.md section 7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tablepub.pb.h"

namespace tablepub {

// ZMQ_MAXMSGSIZE of the snapshot endpoint: a client sending a larger frame
// is disconnected by ZeroMQ before the frame is buffered. A request is a
// few hundred bytes; even a projection of 1000 columns with 63-byte names
// fits.
inline constexpr std::size_t MAX_REQUEST_BYTES = 64 * 1024;
// PostgreSQL's identifiers are at most NAMEDATALEN - 1 bytes; a longer name
// would be truncated by the server and could match another table.
inline constexpr std::size_t MAX_NAME_BYTES = 63;
// A table has at most 1600 columns (MaxHeapAttributeNumber).
inline constexpr int MAX_COLUMNS = 1600;
// Tables of one snapshot request (the first plus more_tables): each holds
// an ACCESS SHARE lock for the whole stream, and a lock table entry per
// partition; a mirror of a few related tables needs far fewer.
inline constexpr int MAX_SNAPSHOT_TABLES = 32;
// Sequence numbers travel through PostgreSQL as bigint.
inline constexpr std::uint64_t MAX_SEQ = 9223372036854775807ULL;

// Why a snapshot or replay request is malformed (the Error message sent
// with MALFORMED_REQUEST), or nothing when every field is within bounds.
[[nodiscard]] std::optional<std::string> request_problem(const v1::Request& req);

// credit + grant, capped at cap (and never wrapping around).
[[nodiscard]] constexpr std::uint32_t add_credit(std::uint32_t credit, std::uint32_t grant,
                                                 std::uint32_t cap) noexcept {
    const std::uint64_t sum = std::uint64_t{credit} + grant;
    return sum > cap ? cap : static_cast<std::uint32_t>(sum);
}

}  // namespace tablepub
