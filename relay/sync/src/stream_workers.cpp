// The snapshot and replay streams (docs/protocol.md sections 5 and 6).

#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/pg_connection.hpp"
#include "relay/batch_count.hpp"
#include "relay/batch_reader.hpp"
#include "relay/sequencer.hpp"
#include "relay/state_store.hpp"
#include "snapshot_progress.hpp"
#include "stream.hpp"
#include "sync/reply_encoding.hpp"

namespace tablepub::sync {

namespace {

// A name as the replies show it: double-quoted as an SQL identifier, the
// form PQescapeIdentifier gives the statements (which need a connection
// this message may have to do without).
std::string quote_ident(std::string_view name) {
    std::string out = "\"";
    for (const char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string quoted(const std::string& schema, const std::string& table) {
    return quote_ident(schema) + "." + quote_ident(table);
}

// Opens a session for one stream. With search_path pg_catalog (and pg_temp
// last, never searched for functions and operators) no object a user
// created can capture a name or operator of the relay's SQL; row_security = off makes a read that row-level security
// would filter fail instead (docs/design.md section 3).
PgConnection open_session(const SyncServerOptions& options) {
    PgConnection conn(options.conninfo);
    conn.exec(
        "SET application_name = 'tablepub-relay snapshot'; SET search_path = pg_catalog, pg_temp; "
        "SET row_security = off; SET lock_timeout = " +
        std::to_string(options.idle_timeout.count()));
    return conn;
}

// Sequences one row of a replay cursor (relid, txid, octet_length(change),
// the change unless over --max-change-bytes, ...) as the relay published
// it (sequence_row): each change of a pack, a RESYNC for a change over the
// limit or a malformed pack.
void sequence_replayed_row(Sequencer& seq, std::uint32_t relid, const PgResult& row, std::uint64_t max_change) {
    OutboxRow r;
    r.relid = relid;
    r.txid = static_cast<std::uint64_t>(row.int64(0, 1));
    r.size = static_cast<std::uint64_t>(row.int64(0, 2));
    std::string bytes;
    if (row.is_null(0, 3)) {
        r.oversized = true;
    } else {
        bytes = row.bytea(0, 3);
        r.bytes = bytes;
    }
    sequence_row(seq, r, max_change);
}

// Sends one chunk once the client has granted credit for it.
void send_chunk(StreamContext& ctx, ChunkEncoder& enc) {
    ctx.take_credit();
    ctx.send(enc.finish());
}

// The replay_begin reply: the messages from..to follow (to = from - 1 when
// none do). A transaction replay names no table (empty names).
void send_replay_begin(StreamContext& ctx, const std::string& schema_name, const std::string& table_name,
                       std::uint64_t from, std::uint64_t to) {
    v1::Reply r;
    r.set_request_id(ctx.stream().request_id);
    auto* rb = r.mutable_replay_begin();
    rb->set_schema_name(schema_name);
    rb->set_table_name(table_name);
    rb->set_from_seq(from);
    rb->set_to_seq(to);
    ctx.send(r);
}

// The replay_end reply: the replay is complete with `count` messages.
void send_replay_end(StreamContext& ctx, std::uint64_t count) {
    v1::Reply r;
    r.set_request_id(ctx.stream().request_id);
    r.mutable_replay_end()->set_message_count(count);
    ctx.send(r);
}

// Adds one row (or message) to the chunk, sending the chunk first when the
// element would take it past --snapshot-chunk-bytes or the chunk has its
// rows already. An element larger than the chunk bound goes alone.
void add_bounded(StreamContext& ctx, ChunkEncoder& enc, std::uint32_t max_rows, std::string_view element,
                 const char* what, const std::string& table) {
    check_element_size(ctx, element.size(), what, table);
    if (enc.count() > 0 &&
        (enc.count() >= max_rows || enc.reply_bytes_with(element.size()) > ctx.options().chunk_bytes))
        send_chunk(ctx, enc);
    enc.add(element);
}

// A snapshot row limited to the projection (plus the key).
std::string project(std::string_view row, const std::set<std::string>& columns) {
    v1::Change c;
    if (!c.ParseFromArray(row.data(), static_cast<int>(row.size())))
        throw Error("encode_row returned a malformed Change");
    std::set<std::string> keep = columns;
    for (const auto& k : c.key()) keep.insert(k.name());
    auto* values = c.mutable_values();
    for (int i = values->size() - 1; i >= 0; --i)
        if (!keep.count(values->Get(i).name())) values->DeleteSubrange(i, 1);
    return c.SerializeAsString();
}

// The current names of a stream that was published under (schema, table)
// and renamed since (within the retention of tablepub.relay_topic_history).
std::optional<std::pair<std::string, std::string>> moved_to(PgConnection& conn, const std::string& schema,
                                                            const std::string& table) {
    auto r = conn.exec_params(
        "SELECT s.schema_name, s.table_name FROM tablepub.relay_topic_history h"
        "  JOIN tablepub.relay_stream s ON s.relid = h.relid"
        " WHERE h.schema_name = $1 AND h.table_name = $2"
        "   AND (s.schema_name, s.table_name) IS DISTINCT FROM ($1, $2)"
        " ORDER BY h.renamed DESC, h.from_seq DESC LIMIT 1",
        {schema, table});
    if (r.rows() == 0) return std::nullopt;
    return std::make_pair(r.text(0, 0), r.text(0, 1));
}

void send_moved(StreamContext& ctx, const std::string& name, const std::pair<std::string, std::string>& to) {
    v1::Reply r;
    r.set_request_id(ctx.stream().request_id);
    auto* e = r.mutable_error();
    e->set_code(v1::MOVED);
    e->set_message("table " + name + " was renamed to " + quoted(to.first, to.second));
    e->set_moved_to_schema(to.first);
    e->set_moved_to_table(to.second);
    ctx.send(r);
}

// Answers a request for a table the relay could not lock or does not
// stream: MOVED for a former name, else UNKNOWN_TABLE or NOT_PUBLISHED.
// Runs outside the stream's transaction.
void answer_not_readable(StreamContext& ctx, PgConnection& conn, const std::string& schema, const std::string& table,
                         const std::string& why) {
    const std::string name = quoted(schema, table);
    auto r = conn.exec_params(
        "SELECT p.relid IS NOT NULL FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "  LEFT JOIN tablepub.publication p ON p.relid = c.oid"
        " WHERE n.nspname = $1 AND c.relname = $2",
        {schema, table});
    const bool exists = r.rows() == 1, published = exists && r.value(0, 0) == "t";
    if (!published) {
        if (auto to = moved_to(conn, schema, table)) {
            send_moved(ctx, name, *to);
            return;
        }
    }
    if (!exists)
        ctx.send_error(v1::UNKNOWN_TABLE, "table " + name + " does not exist");
    else if (!published)
        ctx.send_error(v1::NOT_PUBLISHED, "table " + name + " is not published");
    else
        ctx.send_error(v1::INTERNAL, "cannot read table " + name + ": " + why);
}

// A name no table can have: libpq would cut it at a NUL byte, and
// PostgreSQL would truncate one longer than NAMEDATALEN - 1 bytes to the
// name of another table.
bool impossible_name(const std::string& s) {
    constexpr std::size_t MAX_NAME_BYTES = 63;
    return s.find('\0') != std::string::npos || s.size() > MAX_NAME_BYTES;
}

// How the table's rows are read: every partition of a partitioned table,
// and never the rows of inheritance children (their changes are not
// captured). `ident` is the quoted name (PQescapeIdentifier), so that no
// user-chosen name (quotes, dots, spaces, upper case, keywords, names equal
// to an alias or a function) can change what the statement means.
std::string from_clause(const std::string& ident, const std::string& relkind) {
    return (relkind == "p" ? "" : "ONLY ") + ident;
}

}  // namespace

namespace {

// One table of a snapshot request, its projection, and what the snapshot
// transaction found out about it.
struct SnapshotTable {
    std::string schema, table, name;  // name: quoted, for messages
    std::vector<std::string> projection;
    std::string ident;  // PQescapeIdentifier'd schema.table
    PgResult info;
};

// The columns of the info query (below).
enum InfoColumn {
    RELID,
    RELKIND,
    PUBLISHED,
    UNPUBLISHED_COLUMNS,
    XMIN,
    LAST_SEQ,
    SCHEMA_SEQ,
    SCHEMA,
    LOCKED,
    XMAX,
    RELTUPLES,
    WAL_FLUSHED,
    LAST_POSITION
};

PgResult table_info(PgConnection& conn, const SnapshotTable& t) {
    return conn.exec_params(
        "SELECT r.relid, c.relkind, p.relid IS NOT NULL,"
        "       pg_catalog.array_to_string(ARRAY(SELECT x FROM pg_catalog.unnest($2::pg_catalog.text[]) x"
        "              WHERE x <> ALL (ARRAY(SELECT a.attname::pg_catalog.text"
        "                     FROM pg_catalog.unnest(tablepub.published_attnums(p)) AS u(attnum)"
        "                     JOIN pg_catalog.pg_attribute a ON a.attrelid = p.relid"
        "                      AND a.attnum = u.attnum))), ', '),"
        "       pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()),"
        "       coalesce(s.last_seq, 0), coalesce(s.schema_seq, 0), coalesce(s.schema, ''),"
        "       EXISTS (SELECT FROM pg_catalog.pg_locks l"
        "                WHERE l.locktype = 'relation' AND l.granted"
        "                  AND l.pid = pg_catalog.pg_backend_pid()"
        "                  AND l.relation = r.relid"
        "                  AND l.mode = 'AccessShareLock'),"
        "       pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()),"
        "       c.reltuples,"
        "       pg_catalog.pg_current_wal_flush_lsn() >= pg_catalog.pg_current_wal_insert_lsn(),"
        "       (SELECT st.last_position FROM tablepub.relay_state st)"
        "  FROM (SELECT pg_catalog.to_regclass($1)::pg_catalog.oid AS relid) r"
        "  LEFT JOIN pg_catalog.pg_class c ON c.oid = r.relid"
        "  LEFT JOIN tablepub.publication p ON p.relid = r.relid"
        "  LEFT JOIN tablepub.relay_stream s ON s.relid = r.relid",
        {t.name, pg_array_literal(t.projection)});
}

}  // namespace

// The snapshot transaction's first statements lock the tables, one by one
// (ACCESS SHARE; on a partitioned table LOCK recurses to every partition).
// A LOCK takes no snapshot, so the snapshot, taken by the next statement,
// is younger than every TRUNCATE or table rewrite of any of them that
// committed before its lock was granted, and none can commit until the
// transaction ends: the rows read are exactly those the snapshot says, for
// every table of the request (docs/design.md section 3). Every check runs
// before the first reply, so a request naming a table that cannot be read
// gets one Error and nothing else.
void run_snapshot(StreamContext& ctx) {
    const auto& stream = ctx.stream();
    const auto& req = stream.request.snapshot();
    const auto started = std::chrono::steady_clock::now();
    std::vector<SnapshotTable> tables;
    tables.push_back({req.schema_name(),
                      req.table_name(),
                      quoted(req.schema_name(), req.table_name()),
                      std::vector<std::string>(req.columns().begin(), req.columns().end()),
                      {},
                      {}});
    for (const auto& t : req.more_tables()) {
        tables.push_back({t.schema_name(),
                          t.table_name(),
                          quoted(t.schema_name(), t.table_name()),
                          std::vector<std::string>(t.columns().begin(), t.columns().end()),
                          {},
                          {}});
    }
    for (const auto& t : tables) {
        if (impossible_name(t.schema) || impossible_name(t.table)) {
            ctx.send_error(v1::UNKNOWN_TABLE, "table " + t.name + " does not exist");
            return;
        }
    }

    PgConnection conn = open_session(ctx.options());
    for (auto& t : tables) t.ident = conn.escape_identifier(t.schema) + "." + conn.escape_identifier(t.table);
    // LOCK TABLE resolves the name and locks in one step (and looks the name
    // up again after waiting). Only a schema renamed between that lock and
    // the snapshot can make the name mean another table; the relation is
    // then not the one we hold locked, and the locks are taken again.
    for (int attempt = 0;; ++attempt) {
        conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        for (const auto& t : tables) {
            try {
                conn.exec("LOCK TABLE " + t.ident + " IN ACCESS SHARE MODE");
            } catch (const DbError& e) {
                conn.exec("ROLLBACK");
                if (e.sqlstate() == "55P03")
                    ctx.send_error(v1::UNAVAILABLE, "table " + t.name + " stayed locked by another session");
                else
                    answer_not_readable(ctx, conn, t.schema, t.table, e.what());
                return;
            }
        }
        bool all_locked = true;
        for (auto& t : tables) {
            t.info = table_info(conn, t);
            all_locked = all_locked && !t.info.is_null(0, RELID) && t.info.value(0, LOCKED) == "t";
        }
        if (all_locked) break;
        conn.exec("ROLLBACK");
        if (attempt == 2) {
            ctx.send_error(v1::UNAVAILABLE, "a table of the snapshot kept being renamed while it was being locked");
            return;
        }
    }
    for (const auto& t : tables) {
        if (t.info.value(0, PUBLISHED) != "t") {
            conn.exec("ROLLBACK");
            answer_not_readable(ctx, conn, t.schema, t.table, "");
            return;
        }
        if (!t.info.value(0, UNPUBLISHED_COLUMNS).empty()) {
            ctx.send_error(v1::COLUMN_NOT_PUBLISHED, "column(s) " + t.info.text(0, UNPUBLISHED_COLUMNS) + " of table " +
                                                         t.name + " are not published");
            return;
        }
    }
    // Durable before sent: the snapshot may see transactions committed with
    // synchronous_commit = off whose commit records are still in the WAL
    // buffers. The first info query compared the flushed WAL with the insert
    // position after the snapshot was taken; when the flush lags, a flush
    // started from now on covers the snapshot (docs/design.md section 3).
    const bool flushed = tables.front().info.value(0, WAL_FLUSHED) != "t" && ctx.durable().make_durable(Clock::now());

    // `r.*` is the whole row even when a column is named r; encode_row
    // refuses a row of any other table than the locked one. Every cursor is
    // declared before the first reply: a table the relay may not read whole
    // refuses the request before anything is sent.
    for (std::size_t i = 0; i < tables.size(); ++i) {
        const auto& t = tables[i];
        try {
            conn.exec_params("DECLARE tablepub_snapshot_" + std::to_string(i) +
                                 " NO SCROLL CURSOR FOR SELECT tablepub.encode_row("
                                 "$1::pg_catalog.oid::pg_catalog.regclass, r.*) FROM " +
                                 from_clause(t.ident, t.info.text(0, RELKIND)) + " AS r",
                             {t.info.text(0, RELID)});
        } catch (const DbError& e) {
            // Row-level security that applies to the relay's role: with
            // row_security off the read fails rather than return fewer rows.
            if (e.sqlstate() != "42501") throw;
            ctx.send_error(v1::FORBIDDEN, "cannot read every row of table " + t.name + ": " + e.what() +
                                              " (the relay's database role needs BYPASSRLS to snapshot a table "
                                              "with row-level security)");
            return;
        }
    }

    // The transaction's snapshot again (REPEATABLE READ keeps it): one for all.
    const auto xip = conn.exec("SELECT pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot())");
    const auto n = ctx.chunk_rows();
    for (std::size_t i = 0; i < tables.size(); ++i) {
        const auto& t = tables[i];
        const auto& info = t.info;
        v1::Reply begin;
        begin.set_request_id(stream.request_id);
        auto* b = begin.mutable_snapshot_begin();
        b->set_xmin(static_cast<std::uint64_t>(info.int64(0, XMIN)));
        b->set_xmax(static_cast<std::uint64_t>(info.int64(0, XMAX)));
        for (int x = 0; x < xip.rows(); ++x) b->add_xip(static_cast<std::uint64_t>(xip.int64(x, 0)));
        b->set_seq(static_cast<std::uint64_t>(info.int64(0, LAST_SEQ)));
        b->set_schema_seq(static_cast<std::uint64_t>(info.int64(0, SCHEMA_SEQ)));
        const auto schema_bytes = info.bytea(0, SCHEMA);
        if (!schema_bytes.empty() && !b->mutable_schema()->ParseFromString(schema_bytes))
            throw Error("malformed schema in tablepub.relay_stream for " + t.name);
        b->set_schema_name(t.schema);
        b->set_table_name(t.table);
        b->set_position(static_cast<std::uint64_t>(info.int64(0, LAST_POSITION)));
        b->set_table_index(static_cast<std::uint32_t>(i));
        b->set_table_count(static_cast<std::uint32_t>(tables.size()));
        b->set_group(stream.group);
        ctx.send(begin);

        const std::set<std::string> columns(t.projection.begin(), t.projection.end());
        ChunkEncoder enc(ChunkEncoder::Kind::snapshot_rows, stream.request_id);
        std::uint64_t rows = 0;
        SnapshotProgress progress(t.name, std::strtod(info.text(0, RELTUPLES).c_str(), nullptr), started);
        // Row by row: the relay holds one row of the table at a time, however
        // large the rows; the server waits while the client grants no credit.
        conn.send_row_by_row("FETCH ALL FROM tablepub_snapshot_" + std::to_string(i), {}, true);
        while (PgResult row = conn.next_row()) {
            std::string projected;
            std::string_view bytes = row.value(0, 0);
            // Checked before parsing too: the size then fits protobuf's int.
            check_element_size(ctx, bytes.size(), "a row", t.name);
            if (!columns.empty()) bytes = projected = project(bytes, columns);
            add_bounded(ctx, enc, n, bytes, "a row", t.name);
            progress.row(++rows);
        }
        if (enc.count() > 0) send_chunk(ctx, enc);

        v1::Reply end;
        end.set_request_id(stream.request_id);
        end.mutable_snapshot_end()->set_row_count(rows);
        ctx.send(end);
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
        spdlog::info("snapshot of {}{}: {} rows at seq {} in {} ms{}", t.name,
                     tables.size() > 1 ? " (" + std::to_string(i + 1) + " of " + std::to_string(tables.size()) + ")"
                                       : std::string(),
                     rows, b->seq(), ms, flushed && i == 0 ? " (flushed the WAL first)" : "");
    }
    conn.exec("COMMIT");
}

namespace {

struct BatchRange {
    std::string prev, snap;
    std::uint64_t first = 0, last = 0, prev_schema_seq = 0;
    std::uint64_t first_position = 0;  // 0: published before extension 0.3
    std::int64_t commit_time = 0;
};

}  // namespace

// Re-runs the sequencer over the retained batches of the table: the same
// outbox rows in the same order through the same code, started from the
// stream's state before the first of them (its seq, schema_seq and names,
// all kept per batch), give the same seqs and bytes as the original
// publication, across any SCHEMA messages in between.
void run_replay(StreamContext& ctx) {
    if (ctx.stream().request.replay().transactions()) {
        run_transaction_replay(ctx);
        return;
    }
    const auto& stream = ctx.stream();
    const auto& req = stream.request.replay();
    const std::string name = quoted(req.schema_name(), req.table_name());
    const auto from = req.from_seq();
    if (impossible_name(req.schema_name()) || impossible_name(req.table_name())) {
        ctx.send_error(v1::UNKNOWN_TABLE, "table " + name + " does not exist");
        return;
    }

    PgConnection conn = open_session(ctx.options());
    conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    // First statement, before the snapshot (see run_snapshot): a partition
    // tablepub.maintain() truncated after our snapshot would look empty.
    conn.exec("LOCK TABLE tablepub.outbox IN ACCESS SHARE MODE");
    // A dropped table's stream may keep the name of a newer table: the
    // published one, else the latest, is the one asked for.
    auto info = conn.exec_params(
        "SELECT s.relid, s.last_seq FROM tablepub.relay_stream s"
        " WHERE s.schema_name = $1 AND s.table_name = $2"
        " ORDER BY s.published DESC, s.updated DESC LIMIT 1",
        {req.schema_name(), req.table_name()});
    if (info.rows() == 0) {
        conn.exec("ROLLBACK");
        auto exists = conn.exec_params(
            "SELECT p.relid IS NOT NULL FROM pg_catalog.pg_class c"
            "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            "  LEFT JOIN tablepub.publication p ON p.relid = c.oid"
            " WHERE n.nspname = $1 AND c.relname = $2",
            {req.schema_name(), req.table_name()});
        // Not GONE: the table's first batch may be on the bus already and
        // durable a moment later (a subscriber sees a gap inside it and asks
        // before the batch is done). UNAVAILABLE makes the client ask again
        // instead of taking a snapshot it does not need.
        if (exists.rows() == 1 && exists.value(0, 0) == "t")
            ctx.send_error(v1::UNAVAILABLE, "the relay has published nothing durable for table " + name + " yet");
        else
            answer_not_readable(ctx, conn, req.schema_name(), req.table_name(), "");
        return;
    }
    const auto relid = static_cast<std::uint32_t>(info.int64(0, 0));
    const auto last_seq = static_cast<std::uint64_t>(info.int64(0, 1));
    const auto to = req.to_seq() == 0 ? last_seq : std::min(req.to_seq(), last_seq);

    if (from > to) {
        send_replay_begin(ctx, req.schema_name(), req.table_name(), from, from - 1);
        send_replay_end(ctx, 0);
        return;
    }

    auto batches =
        conn.exec_params("SELECT b.prev::text, b.snap::text, u.f, u.l, u.ps, coalesce(b.first_position, 0), " +
                             batch_commit_time_sql("b") +
                             "  FROM tablepub.relay_batch b,"
                             "       unnest(b.relids, b.first_seq, b.last_seq, b.prev_schema_seq) AS u(relid, f, l, ps)"
                             " WHERE b.done IS NOT NULL AND u.relid = $1::oid AND u.l >= $2 AND u.f <= $3"
                             " ORDER BY b.batch_id",
                         {std::to_string(relid), std::to_string(from), std::to_string(to)});
    std::vector<BatchRange> ranges;
    for (int i = 0; i < batches.rows(); ++i)
        ranges.push_back({batches.text(i, 0), batches.text(i, 1), static_cast<std::uint64_t>(batches.int64(i, 2)),
                          static_cast<std::uint64_t>(batches.int64(i, 3)),
                          static_cast<std::uint64_t>(batches.int64(i, 4)),
                          static_cast<std::uint64_t>(batches.int64(i, 5)), batches.int64(i, 6)});
    bool covered = !ranges.empty() && ranges.front().first <= from && ranges.back().last >= to;
    for (std::size_t i = 1; covered && i < ranges.size(); ++i) covered = ranges[i].first == ranges[i - 1].last + 1;
    if (!covered) {
        ctx.send_error(v1::GONE,
                       "messages from seq " + std::to_string(from) + " of table " + name + " are no longer retained");
        return;
    }
    // Every outbox row of those batches must still be there: a missing one
    // would shift the numbers of all that follow. Counted in messages (a
    // packed row makes one per change).
    for (const auto& r : ranges) {
        if (count_batch_messages(conn, r.prev, r.snap, relid) != r.last - r.first + 1) {
            ctx.send_error(v1::GONE, "the outbox rows of seq " + std::to_string(r.first) + ".." +
                                         std::to_string(r.last) + " of table " + name + " are no longer retained");
            return;
        }
    }
    // The names before the first batch: those the first rename from then on
    // left behind, or the current ones when there was none.
    auto names = conn.exec_params(
        "SELECT n.schema_name, n.table_name FROM ("
        "  SELECT h.schema_name, h.table_name, 0 AS o, h.from_seq FROM tablepub.relay_topic_history h"
        "   WHERE h.relid = $1::oid AND h.from_seq >= $2"
        "  UNION ALL"
        "  SELECT s.schema_name, s.table_name, 1, 0 FROM tablepub.relay_stream s WHERE s.relid = $1::oid) n"
        " ORDER BY n.o, n.from_seq LIMIT 1",
        {std::to_string(relid), std::to_string(ranges.front().first)});
    StreamState start;
    start.relid = relid;
    start.schema_name = names.text(0, 0);
    start.table_name = names.text(0, 1);
    start.last_seq = ranges.front().first - 1;
    start.schema_seq = ranges.front().prev_schema_seq;
    // The TableSchema in force then is not needed: the sequencer only
    // stores schemas, messages carry schema_seq.
    start.published = true;

    send_replay_begin(ctx, req.schema_name(), req.table_name(), from, to);
    ChunkEncoder enc(ChunkEncoder::Kind::replay_messages, stream.request_id);
    const auto n = ctx.chunk_rows();
    std::uint64_t sent = 0;
    std::uint64_t produced_last = start.last_seq;
    Sequencer seq(
        [&](std::string_view, std::string_view body) {
            v1::Message m;
            if (!m.ParseFromArray(body.data(), static_cast<int>(body.size())))
                throw Error("sequencer produced a malformed message");
            if (m.has_heartbeat()) return;  // a moved topic's notice: never replayed
            produced_last = m.seq();
            if (m.seq() < from || m.seq() > to) return;
            add_bounded(ctx, enc, n, body, "a message", name);
            ++sent;
        },
        [&](std::uint32_t) { return std::make_pair(req.schema_name(), req.table_name()); });
    seq.load({start});
    const auto max_change = static_cast<std::uint64_t>(ctx.options().max_change_bytes);
    for (const auto& r : ranges) {
        // A change over --max-change-bytes is not read: it was published
        // as a RESYNC, and is replayed as the same one.
        // The rank of each row's transaction is taken over every table of
        // the batch: its commit position, which the table's messages carry.
        conn.exec_params(
            "DECLARE tablepub_replay NO SCROLL CURSOR FOR SELECT q.relid, q.txid, octet_length(q.change),"
            " CASE WHEN octet_length(q.change) <= $4::int8 THEN q.change END, q.tx_rank FROM (" +
                batch_query_ranked("$1", "$2") + ") q WHERE q.relid = $3",
            {r.prev, r.snap, std::to_string(relid), std::to_string(max_change)});
        seq.begin_batch(r.commit_time, r.first_position > 0);
        // Row by row, as for a snapshot: one outbox row in memory at a time.
        // A change over --max-change-bytes is not read (column 3 is NULL):
        // it was published as a RESYNC, and is replayed as the same one.
        conn.send_row_by_row("FETCH ALL FROM tablepub_replay", {}, false);
        while (PgResult row = conn.next_row()) {
            seq.next_position(r.first_position + static_cast<std::uint64_t>(row.int64(0, 4)) - 1);
            sequence_replayed_row(seq, relid, row, max_change);
        }
        seq.end_batch();
        conn.exec("CLOSE tablepub_replay");
        if (produced_last != r.last)
            throw Error("replay of " + name + " produced seq up to " + std::to_string(produced_last) +
                        " for a batch that ended at " + std::to_string(r.last));
        if (produced_last >= to) break;
    }
    if (enc.count() > 0) send_chunk(ctx, enc);
    conn.exec("COMMIT");
    send_replay_end(ctx, sent);
    spdlog::info("replay of {}: seq {}..{} ({} messages)", name, from, to, sent);
}

}  // namespace tablepub::sync

namespace tablepub::sync {

namespace {

// One done batch of a transaction replay, with the streams it touched as
// they were before it (as the RabbitMQ forwarder reloads them).
struct TxBatch {
    std::string prev, snap;
    std::uint64_t first_position = 0, last_position = 0;
    std::int64_t commit_time = 0;
    std::vector<StreamState> starts;
    std::vector<std::uint64_t> last_seq;  // per start
};

std::vector<TxBatch> load_tx_batches(PgConnection& conn, std::uint64_t from, std::uint64_t to) {
    auto res = conn.exec_params(
        "SELECT b.batch_id, b.prev::text, b.snap::text, b.first_position, b.last_position, " +
            batch_commit_time_sql("b") +
            ", u.relid, u.f, u.l, u.ps, nm.schema_name, nm.table_name"
            "  FROM tablepub.relay_batch b"
            "  CROSS JOIN LATERAL unnest(b.relids, b.first_seq, b.last_seq, b.prev_schema_seq) AS u(relid, f, l, ps)"
            "  LEFT JOIN LATERAL ("
            "    SELECT n.schema_name, n.table_name FROM ("
            "      SELECT h.schema_name, h.table_name, 0 AS o, h.from_seq FROM tablepub.relay_topic_history h"
            "       WHERE h.relid = u.relid AND h.from_seq >= u.f"
            "      UNION ALL"
            "      SELECT s.schema_name, s.table_name, 1, 0 FROM tablepub.relay_stream s WHERE s.relid = u.relid) n"
            "     ORDER BY n.o, n.from_seq LIMIT 1) nm ON true"
            " WHERE b.done IS NOT NULL AND b.first_position IS NOT NULL"
            "   AND b.last_position >= $1 AND b.first_position <= $2"
            " ORDER BY b.batch_id",
        {std::to_string(from), std::to_string(to)});
    std::vector<TxBatch> out;
    std::int64_t id = -1;
    for (int i = 0; i < res.rows(); ++i) {
        if (res.int64(i, 0) != id) {
            id = res.int64(i, 0);
            out.push_back(TxBatch{res.text(i, 1),
                                  res.text(i, 2),
                                  static_cast<std::uint64_t>(res.int64(i, 3)),
                                  static_cast<std::uint64_t>(res.int64(i, 4)),
                                  res.int64(i, 5),
                                  {},
                                  {}});
        }
        StreamState s;
        s.relid = static_cast<std::uint32_t>(res.int64(i, 6));
        s.last_seq = static_cast<std::uint64_t>(res.int64(i, 7)) - 1;
        s.schema_seq = static_cast<std::uint64_t>(res.int64(i, 9));
        if (!res.is_null(i, 10)) {
            s.schema_name = res.text(i, 10);
            s.table_name = res.text(i, 11);
        }
        out.back().last_seq.push_back(static_cast<std::uint64_t>(res.int64(i, 8)));
        out.back().starts.push_back(std::move(s));
    }
    return out;
}

}  // namespace

// Re-runs the sequencer over every table of the retained batches that hold
// the positions asked for: the same rows in the same order from the same
// stream states give the same Transaction messages, listing the tables the
// client's group may read.
void run_transaction_replay(StreamContext& ctx) {
    const auto& stream = ctx.stream();
    const auto& req = stream.request.replay();
    const std::string name = "the transactions";
    const auto from = req.from_seq();

    PgConnection conn = open_session(ctx.options());
    conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    // Before the snapshot, as for a table (run_replay).
    conn.exec("LOCK TABLE tablepub.outbox IN ACCESS SHARE MODE");
    const auto last =
        static_cast<std::uint64_t>(conn.exec("SELECT last_position FROM tablepub.relay_state").int64(0, 0));
    if (last == 0) {
        // As for a table with nothing durable yet: the first batch may be on
        // the bus already and done a moment later.
        conn.exec("ROLLBACK");
        ctx.send_error(v1::UNAVAILABLE, "the relay has published no durable transaction yet");
        return;
    }
    const auto to = req.to_seq() == 0 ? last : std::min(req.to_seq(), last);
    if (from > to) {
        conn.exec("COMMIT");
        send_replay_begin(ctx, {}, {}, from, from - 1);
        send_replay_end(ctx, 0);
        return;
    }
    const auto batches = load_tx_batches(conn, from, to);
    bool covered = !batches.empty() && batches.front().first_position <= from && batches.back().last_position >= to;
    for (std::size_t i = 1; covered && i < batches.size(); ++i)
        covered = batches[i].first_position == batches[i - 1].last_position + 1;
    if (!covered) {
        ctx.send_error(v1::GONE, "transactions from position " + std::to_string(from) + " are no longer retained");
        return;
    }
    // Every outbox row of those batches must still be there (see run_replay).
    for (const auto& b : batches) {
        std::uint64_t expected = 0;
        for (std::size_t i = 0; i < b.starts.size(); ++i) expected += b.last_seq[i] - b.starts[i].last_seq;
        if (count_batch_messages(conn, b.prev, b.snap, std::nullopt) != expected) {
            ctx.send_error(v1::GONE, "the outbox rows of positions " + std::to_string(b.first_position) + ".." +
                                         std::to_string(b.last_position) + " are no longer retained");
            return;
        }
    }

    send_replay_begin(ctx, {}, {}, from, to);
    ChunkEncoder enc(ChunkEncoder::Kind::replay_messages, stream.request_id);
    const auto n = ctx.chunk_rows();
    std::uint64_t sent = 0;
    std::string message;
    std::vector<TransactionRange> visible;
    std::uint64_t batch_id_for_errors = 0;
    Sequencer seq([](std::string_view, HeadroomBuffer&) {},
                  [&](std::uint32_t relid) -> std::pair<std::string, std::string> {
                      throw Error("batch of positions " + std::to_string(batch_id_for_errors) +
                                  ".. has outbox rows of table oid " + std::to_string(relid) + " it did not publish");
                  },
                  [&](const TransactionEnd& tx) {
                      if (tx.position < from || tx.position > to) return;
                      visible.clear();
                      for (const auto& r : tx.tables) {
                          if (!stream.visible || stream.visible(std::string(r.schema_name), std::string(r.table_name)))
                              visible.push_back(r);
                      }
                      message.clear();
                      encode_transaction_message(message, tx.position, tx.txid, tx.commit_time, visible.data(),
                                                 visible.size(), stream.group);
                      add_bounded(ctx, enc, n, message, "a message", name);
                      ++sent;
                  });
    const auto max_change = static_cast<std::uint64_t>(ctx.options().max_change_bytes);
    for (const auto& b : batches) {
        batch_id_for_errors = b.first_position;
        seq.load(b.starts, b.first_position - 1);
        seq.begin_batch(b.commit_time);
        conn.exec_params(
            "DECLARE tablepub_replay NO SCROLL CURSOR FOR SELECT q.relid, q.txid, octet_length(q.change),"
            " CASE WHEN octet_length(q.change) <= $3::int8 THEN q.change END FROM (" +
                batch_query("$1", "$2") + ") q",
            {b.prev, b.snap, std::to_string(max_change)});
        conn.send_row_by_row("FETCH ALL FROM tablepub_replay", {}, false);
        while (PgResult row = conn.next_row()) {
            sequence_replayed_row(seq, static_cast<std::uint32_t>(row.int64(0, 0)), row, max_change);
        }
        seq.end_batch();
        conn.exec("CLOSE tablepub_replay");
        if (seq.last_position() != b.last_position)
            throw Error("replay of the transactions produced positions up to " + std::to_string(seq.last_position()) +
                        " for a batch that ended at " + std::to_string(b.last_position));
        if (b.last_position >= to) break;
    }
    if (enc.count() > 0) send_chunk(ctx, enc);
    conn.exec("COMMIT");
    send_replay_end(ctx, sent);
    spdlog::info("replay of the transactions: positions {}..{} ({} messages)", from, to, sent);
}

}  // namespace tablepub::sync
