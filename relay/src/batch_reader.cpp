#include "tablepub/batch_reader.hpp"

#include <cstring>

#include "tablepub/error.hpp"
#include "tablepub/pg_connection.hpp"

namespace tablepub {

namespace {

// Binary-format integers arrive in network byte order.
std::uint64_t be_uint(std::string_view v) {
    std::uint64_t out = 0;
    for (const char c : v) out = (out << 8) | static_cast<unsigned char>(c);
    return out;
}

}  // namespace

std::string batch_query(const std::string& prev, const std::string& snap) {
    // The batch's transactions are not visible in S_prev, so they are in its
    // xip list or at or above its xmax: two index lookups on outbox(txid),
    // however long an old transaction holds S_prev's xmin back. Rows follow in
    // (largest pos of the transaction, txid, pos) order, the order that
    // delivers transactions touching the same row in commit order (design.md 1).
    std::string q =
        "SELECT relid, txid, change FROM ("
        " SELECT relid, txid, pos, change, max(pos) OVER (PARTITION BY txid) AS last_pos FROM tablepub.outbox"
        " WHERE (txid >= pg_snapshot_xmax(@P::pg_snapshot)"
        "        OR txid = ANY (ARRAY(SELECT pg_snapshot_xip(@P::pg_snapshot))))"
        " AND txid < pg_snapshot_xmax(@S::pg_snapshot)"
        " AND pg_visible_in_snapshot(txid, @S::pg_snapshot) AND NOT pg_visible_in_snapshot(txid, @P::pg_snapshot)) b"
        " ORDER BY last_pos, txid, pos";
    for (std::size_t at; (at = q.find("@P")) != std::string::npos;) q.replace(at, 2, prev);
    for (std::size_t at; (at = q.find("@S")) != std::string::npos;) q.replace(at, 2, snap);
    return q;
}

std::uint64_t BatchReader::read(const Batch& batch, const PrepareFn& prepare, const RowFn& row, const IdleFn& idle) {
    const std::string fetch = "FETCH FORWARD " + std::to_string(fetch_rows_) + " FROM tablepub_batch";
    std::uint64_t count = 0;
    try {
        // Transaction, cursor and first chunk in one round trip; a BINARY
        // cursor returns binary columns through the simple protocol.
        PgResult first = conn_.exec(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
            "DECLARE tablepub_batch BINARY NO SCROLL CURSOR FOR " +
            batch_query(conn_.escape_literal(batch.prev), conn_.escape_literal(batch.snap)) + "; " + fetch);
        for (;;) {
            PgResult chunk = first ? std::move(first) : conn_.wait_result();
            const int n = chunk.rows();
            if (n == 0) break;
            if (chunk.columns() != 3) throw Error("unexpected batch result shape");
            for (int i = 0; i < n; ++i) prepare(static_cast<std::uint32_t>(be_uint(chunk.value(i, 0))));
            const bool more = n == fetch_rows_;
            if (more) conn_.send_params(fetch, {}, true);
            for (int i = 0; i < n; ++i) {
                row(static_cast<std::uint32_t>(be_uint(chunk.value(i, 0))), be_uint(chunk.value(i, 1)),
                    chunk.value(i, 2));
            }
            count += static_cast<std::uint64_t>(n);
            if (!more) break;
            idle();
        }
        conn_.exec("COMMIT");
    } catch (const ConnectionLost&) {
        throw;
    } catch (...) {
        try {
            conn_.exec("ROLLBACK");
        } catch (const Error&) {
            // The original error is the one worth reporting.
        }
        throw;
    }
    return count;
}

}  // namespace tablepub
