#include "relay/batch_count.hpp"

#include <vector>

#include "common/outbox_pack.hpp"
#include "common/pg_connection.hpp"
#include "relay/batch_reader.hpp"

namespace tablepub {

std::uint64_t count_batch_messages(PgConnection& conn, const std::string& prev, const std::string& snap,
                                   std::optional<std::uint32_t> relid) {
    // Rows that may be packs (0x00 first, at most MAX_PACK_BYTES; the CASE
    // looks at the size first, so a large value is never read) come back
    // whole, grouped, to be counted by the splitter the publishing path
    // uses; every other row counts one, in the group whose key is NULL.
    // One scan of the batch; the result holds its packs, row by row.
    const std::string limit = std::to_string(MAX_PACK_BYTES);
    std::string sql =
        "SELECT p.change, count(*) FROM (SELECT CASE WHEN octet_length(q.change) > " + limit +
        " THEN NULL WHEN substring(q.change FROM 1 FOR 1) = '\\x00'::bytea THEN q.change END AS change FROM (" +
        batch_query("$1", "$2") + ") q";
    std::vector<std::optional<std::string>> params{prev, snap};
    if (relid) {
        sql += " WHERE q.relid = $3::oid";
        params.emplace_back(std::to_string(*relid));
    }
    sql += ") p GROUP BY p.change";
    conn.send_row_by_row(sql, params, false);
    std::uint64_t total = 0;
    while (PgResult row = conn.next_row()) {
        const auto n = static_cast<std::uint64_t>(row.int64(0, 1));
        if (row.is_null(0, 0)) {
            total += n;
            continue;
        }
        const std::string change = row.bytea(0, 0);
        const OutboxChanges changes(change);
        // A malformed pack is published as one RESYNC.
        total += n * (changes.ok() ? changes.size() : 1);
    }
    return total;
}

}  // namespace tablepub
