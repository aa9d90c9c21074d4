#include "relay/batch_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "common/outbox_pack.hpp"
#include "common/pg_connection.hpp"

namespace tablepub {

namespace {

// Binary-format integers arrive in network byte order.
std::uint64_t be_uint(std::string_view v) {
    std::uint64_t out = 0;
    for (const char c : v) out = (out << 8) | static_cast<unsigned char>(c);
    return out;
}

// The address of a large change as the batch query sends it:
// "<size> <gen> <ctid>".
struct LargeAddress {
    std::uint64_t size = 0;
    std::string gen, ctid;
};
LargeAddress parse_large(std::string_view v) {
    const auto a = v.find(' ');
    const auto b = a == std::string_view::npos ? a : v.find(' ', a + 1);
    LargeAddress out;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + std::min(a, v.size()), out.size);
    if (b == std::string_view::npos || ec != std::errc() || ptr != v.data() + a) {
        throw Error("unexpected large change address \"" + std::string(v) + "\" in the batch result");
    }
    out.gen = std::string(v.substr(a + 1, b - a - 1));
    out.ctid = std::string(v.substr(b + 1));
    return out;
}

// The batch's transactions: those not visible in S_prev are in its xip list
// or at or above its xmax, so this is two index lookups on outbox(txid),
// however long an old transaction holds S_prev's xmin back.
std::string batch_condition(const std::string& prev, const std::string& snap) {
    const std::string p = "(" + prev + ")::pg_snapshot", s = "(" + snap + ")::pg_snapshot";
    return "(txid >= pg_snapshot_xmax(" + p + ") OR txid = ANY (ARRAY(SELECT pg_snapshot_xip(" + p + "))))" +
           " AND txid < pg_snapshot_xmax(" + s + ") AND pg_visible_in_snapshot(txid, " + s + ")" +
           " AND NOT pg_visible_in_snapshot(txid, " + p + ")";
}

// The batch's rows in (largest pos of the transaction, txid, pos) order, the
// order that delivers transactions touching the same row in commit order
// (design.md 1).
std::string batch_rows(const std::string& outer, const std::string& inner, const std::string& prev,
                       const std::string& snap) {
    std::string q = "SELECT " + outer + " FROM (SELECT " + inner;
    q += ", max(pos) OVER (PARTITION BY txid) AS last_pos FROM tablepub.outbox WHERE " + batch_condition(prev, snap);
    q += ") b ORDER BY last_pos, txid, pos";
    return q;
}

}  // namespace

std::string batch_query(const std::string& prev, const std::string& snap) {
    return batch_rows("relid, txid, change", "relid, txid, pos, change", prev, snap);
}

std::string batch_query_ranked(const std::string& prev, const std::string& snap) {
    return batch_rows("relid, txid, change, dense_rank() OVER (ORDER BY last_pos, txid) AS tx_rank",
                      "relid, txid, pos, change", prev, snap);
}

std::string batch_read_query(const std::string& prev, const std::string& snap, std::int64_t inline_limit,
                             BatchPlan plan) {
    // octet_length of a toasted value reads only its header, and the CASEs
    // leave a large value unread: a small change comes with an empty addr,
    // a large one as "<size> <gen> <ctid>".
    const std::string limit = std::to_string(inline_limit);
    const std::string change = "CASE WHEN octet_length(change) <= " + limit + " THEN change END AS change";
    const std::string addr =
        "CASE WHEN octet_length(change) > " + limit +
        " THEN octet_length(change)::text || ' ' || gen::text || ' ' || ctid::text ELSE '' END AS addr";
    if (plan == BatchPlan::per_transaction) {
        // The same rows in the same order (the same ORDER BY), read
        // transaction by transaction: each transaction's largest pos first
        // (an aggregate, one row per transaction), then its rows through
        // outbox(txid), sorted by pos one transaction at a time (an
        // incremental sort on the presorted last_pos, txid). A backlog is
        // no longer sorted whole before its first row: the rows of its
        // first transaction go out while the next one is sorted, and the
        // window's buffer of every row (which spilled to disk) is gone.
        // OFFSET 0 keeps the lateral subquery a scan per transaction:
        // pulled up, the planner joins the batch to itself and sorts it
        // whole again.
        std::string q = "SELECT r.relid, t.txid, r.change, r.addr FROM (SELECT txid, max(pos) AS last_pos";
        q += " FROM tablepub.outbox WHERE " + batch_condition(prev, snap) + " GROUP BY txid ORDER BY last_pos, txid) t";
        q += " CROSS JOIN LATERAL (SELECT relid, pos, " + change + ", " + addr;
        q += " FROM tablepub.outbox o WHERE o.txid = t.txid OFFSET 0) r ORDER BY t.last_pos, t.txid, r.pos";
        return q;
    }
    // Both computed below the window function, whose sort keeps a whole
    // transaction: a small change costs it one empty column.
    //
    // The sort of a backlog spills to disk and compares the tie-breakers
    // txid and pos of every pair of rows of one transaction. The inner
    // ORDER BY sorts rows whose sort keys come first and that have no NULL
    // column (addr is '' for a small change), so PostgreSQL reads the keys
    // at fixed offsets instead of walking each row past the change: 12%
    // less CPU for the query over a 500k-row backlog (docs/benchmarks.md,
    // "Backlog drain"). The outer ORDER BY is the same order, which the
    // planner sees the subquery already delivers (no second sort), and
    // keeps the order a guarantee of SQL rather than of the plan.
    const std::string keyed =
        batch_rows("last_pos, txid, pos, relid, change, addr", "relid, txid, pos, " + change + ", " + addr, prev, snap);
    return "SELECT relid, txid, change, addr FROM (" + keyed + ") s ORDER BY last_pos, txid, pos";
}

std::int64_t BatchReader::inline_limit() const noexcept {
    return std::max<std::int64_t>(limits_.bytes / std::max(limits_.rows, 1), 1024);
}

std::int64_t BatchReader::slice_bytes() const noexcept {
    // Small enough that libpq's input buffer (which keeps its largest size)
    // and one slice's result stay small next to the change itself.
    return std::min<std::int64_t>(limits_.bytes, 8 << 20);
}

// A change to read after its chunk: where it is and where it goes.
struct BatchReader::Pending {
    OutboxRow row;
    std::string gen;   // partition key, text
    std::string ctid;  // text
};

void BatchReader::read_large(std::vector<Pending>& rows, const RowFn& row) {
    const auto headroom = [](std::size_t size) {
        HeadroomBuffer b;
        b.bytes.reserve(MESSAGE_HEADROOM + size);
        b.bytes.assign(MESSAGE_HEADROOM, '\0');
        b.offset = MESSAGE_HEADROOM;
        return b;
    };
    if (rows.size() == 1 && static_cast<std::int64_t>(rows.front().row.size) > slice_bytes()) {
        // One change larger than a slice: read it piece by piece, so that
        // only the change itself and one slice are held.
        auto& p = rows.front();
        HeadroomBuffer b = headroom(p.row.size);
        const auto slice = static_cast<std::uint64_t>(slice_bytes());
        for (std::uint64_t off = 0; off < p.row.size; off += slice) {
            const auto len = std::min(slice, p.row.size - off);
            PgResult r = conn_.exec_params(
                "SELECT substring(change FROM $3::int4 FOR $4::int4) FROM tablepub.outbox"
                " WHERE gen = $1::int2 AND ctid = $2::tid",
                {p.gen, p.ctid, std::to_string(off + 1), std::to_string(len)}, true);
            if (r.rows() != 1 || r.value(0, 0).size() != len) {
                throw Error("outbox row " + p.ctid + " of transaction " + std::to_string(p.row.txid) +
                            " changed while its batch was read");
            }
            b.bytes.append(r.value(0, 0));
        }
        p.row.large = &b;
        row(p.row);
        return;
    }
    // Several changes of one partition, together at most limits_.bytes.
    std::string tids = "{";
    for (std::size_t i = 0; i < rows.size(); ++i) tids += (i ? ",\"" : "\"") + rows[i].ctid + "\"";
    tids += "}";
    PgResult r = conn_.exec_params(
        "SELECT ctid::text, change FROM tablepub.outbox WHERE gen = $1::int2 AND ctid = ANY ($2::tid[])",
        {rows.front().gen, tids}, true);
    if (r.rows() != static_cast<int>(rows.size())) {
        throw Error("outbox rows of a batch changed while it was read (" + std::to_string(r.rows()) + " of " +
                    std::to_string(rows.size()) + " found)");
    }
    for (auto& p : rows) {
        int at = -1;
        for (int i = 0; i < r.rows() && at < 0; ++i) {
            if (r.value(i, 0) == p.ctid) at = i;
        }
        if (at < 0 || r.value(at, 1).size() != p.row.size) {
            throw Error("outbox row " + p.ctid + " of transaction " + std::to_string(p.row.txid) +
                        " changed while its batch was read");
        }
        HeadroomBuffer b = headroom(p.row.size);
        b.bytes.append(r.value(at, 1));
        p.row.large = &b;
        row(p.row);
    }
}

std::uint64_t BatchReader::read(const Batch& batch, const PrepareFn& prepare, const RowFn& row, const IdleFn& idle,
                                BatchPlan plan) {
    const std::string fetch = "FETCH FORWARD " + std::to_string(limits_.rows) + " FROM tablepub_batch";
    // An oversized change is never read, not even inline.
    const auto limit = std::min(inline_limit(), limits_.max_change_bytes);
    const auto slice = slice_bytes();
    std::uint64_t count = 0;
    try {
        // Transaction, cursor and first chunk in one round trip; a BINARY
        // cursor returns binary columns through the simple protocol. That
        // protocol takes no parameters: the two snapshots (texts the
        // database gave) go in as literals quoted by libpq.
        PgResult first = conn_.exec(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
            // The planner's row estimates for the batch query are generic
            // (snapshot functions): the per-transaction plan of a batch of
            // a few rows is estimated over jit_above_cost, and would spend
            // about 20 ms compiling expressions.
            "SET LOCAL jit = off; "
            "DECLARE tablepub_batch BINARY NO SCROLL CURSOR FOR " +
            batch_read_query(conn_.escape_literal(batch.prev), conn_.escape_literal(batch.snap), limit, plan) + "; " +
            fetch);
        std::vector<Pending> large;
        for (;;) {
            PgResult chunk = first ? std::move(first) : conn_.wait_result();
            const int n = chunk.rows();
            if (n == 0) break;
            if (chunk.columns() != 4) throw Error("unexpected batch result shape");
            bool has_large = false;
            for (int i = 0; i < n; ++i) {
                prepare(static_cast<std::uint32_t>(be_uint(chunk.value(i, 0))));
                has_large =
                    has_large || (chunk.is_null(i, 2) && parse_large(chunk.value(i, 3)).size <=
                                                             static_cast<std::uint64_t>(limits_.max_change_bytes));
            }
            const bool more = n == limits_.rows;
            // The next chunk is requested before this one is handled, unless
            // large changes must be read first on this connection.
            if (more && !has_large) conn_.send_params(fetch, {}, true);
            std::int64_t large_bytes = 0;
            auto flush_large = [&] {
                if (large.empty()) return;
                read_large(large, row);
                large.clear();
                large_bytes = 0;
                // Reading large changes takes a while: heartbeats go on.
                idle();
            };
            for (int i = 0; i < n; ++i) {
                OutboxRow r;
                r.relid = static_cast<std::uint32_t>(be_uint(chunk.value(i, 0)));
                r.txid = be_uint(chunk.value(i, 1));
                if (!chunk.is_null(i, 2)) {
                    // Inline: at most the inline limit, itself at most max_change_bytes.
                    flush_large();
                    r.bytes = chunk.value(i, 2);
                    r.size = r.bytes.size();
                    row(r);
                    continue;
                }
                auto addr = parse_large(chunk.value(i, 3));
                r.size = addr.size;
                const auto size = static_cast<std::int64_t>(r.size);
                if (size > limits_.max_change_bytes) {
                    flush_large();
                    r.oversized = true;
                    row(r);
                } else {
                    // Consecutive changes of one partition are read together,
                    // up to limits_.bytes; one over a slice is read alone.
                    if (!large.empty() && (size > slice || large.front().row.size > static_cast<std::uint64_t>(slice) ||
                                           large.front().gen != addr.gen || large_bytes + size > limits_.bytes)) {
                        flush_large();
                    }
                    large.push_back(Pending{r, std::move(addr.gen), std::move(addr.ctid)});
                    large_bytes += size;
                }
            }
            flush_large();
            count += static_cast<std::uint64_t>(n);
            if (!more) break;
            if (has_large) conn_.send_params(fetch, {}, true);
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

RowOutcome sequence_row(Sequencer& sequencer, OutboxRow& row, std::uint64_t max_change_bytes) {
    RowOutcome out;
    if (row.oversized) {
        const auto& s = sequencer.stream(row.relid);
        sequencer.add(row.relid, row.txid,
                      oversized_change(s.schema_name, s.table_name, row.txid, row.size, max_change_bytes));
        out.messages = 1;
        return out;
    }
    const OutboxChanges changes(row.large != nullptr ? row.large->view() : row.bytes);
    if (!changes.ok()) {
        // Stopping would hold every table back behind this row for good, and
        // skipping it would lose its changes silently: its table's
        // subscribers get a RESYNC in its place and take a new snapshot, as
        // for a change over max_change_bytes.
        out.malformed = changes.error();
        const auto& s = sequencer.stream(row.relid);
        sequencer.add(row.relid, row.txid, malformed_pack_change(s.schema_name, s.table_name, row.txid, out.malformed));
        out.messages = 1;
        return out;
    }
    if (row.large != nullptr) {
        // Plain: a well-formed pack is at most MAX_PACK_BYTES, always inline.
        sequencer.add(row.relid, row.txid, std::move(*row.large));
        out.messages = 1;
        return out;
    }
    for (const auto change : changes) sequencer.add(row.relid, row.txid, change);
    out.messages = changes.size();
    return out;
}

}  // namespace tablepub
