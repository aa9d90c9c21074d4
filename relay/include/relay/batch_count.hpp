#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tablepub {

class PgConnection;

// The number of messages the outbox rows of a batch make when sequenced
// (sequence_row): one per change of a well-formed pack, one for any other
// row (plain, over --max-change-bytes, malformed). Only the rows of table
// `relid` when given. A replay compares it with the seqs the batch
// published before it sends anything: a row gone from the outbox would
// shift every number after it. prev and snap as for batch_query; run inside
// the replay's transaction, so that it counts the rows the replay reads.
[[nodiscard]] std::uint64_t count_batch_messages(PgConnection& conn, const std::string& prev, const std::string& snap,
                                                 std::optional<std::uint32_t> relid);

}  // namespace tablepub
