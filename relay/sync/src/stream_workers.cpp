// The snapshot and replay streams (docs/protocol.md sections 5 and 6).

#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "stream.hpp"
#include "tablepub/batch_reader.hpp"
#include "tablepub/error.hpp"
#include "tablepub/pg_connection.hpp"
#include "tablepub/pg_snapshot.hpp"
#include "tablepub/reply_encoding.hpp"
#include "tablepub/sequencer.hpp"
#include "tablepub/state_store.hpp"

namespace tablepub::sync {

namespace {

// bytea in text output ("\x0a1b...") to raw bytes.
std::string unhex(std::string_view hex)
{
    std::string raw;
    if (hex.size() < 2 || hex.substr(0, 2) != "\\x") return raw;
    auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    raw.reserve((hex.size() - 2) / 2);
    for (std::size_t k = 2; k + 1 < hex.size(); k += 2)
        raw += static_cast<char>((nib(hex[k]) << 4) | nib(hex[k + 1]));
    return raw;
}

std::string quoted(const std::string& schema, const std::string& table)
{
    return "\"" + schema + "\".\"" + table + "\"";
}

// Opens the stream's REPEATABLE READ transaction; its first statement takes
// the snapshot every later statement sees.
PgConnection open_transaction(const SyncServerOptions& options)
{
    PgConnection conn(options.conninfo);
    conn.exec("SET application_name = 'tablepub-relay snapshot'");
    conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    return conn;
}

// Sends one chunk once the client has granted credit for it.
void send_chunk(StreamContext& ctx, ChunkEncoder& enc)
{
    ctx.take_credit();
    ctx.send(enc.finish());
}

// Adds one row (or message) to the chunk, sending the chunk first when the
// element would take it past --snapshot-chunk-bytes or the chunk has its
// rows already. An element larger than the chunk bound goes alone.
void add_bounded(StreamContext& ctx, ChunkEncoder& enc, std::uint32_t max_rows, std::string_view element,
                 const char* what, const std::string& table)
{
    check_element_size(ctx, element.size(), what, table);
    if (enc.count() > 0 && (enc.count() >= max_rows ||
                            enc.reply_bytes_with(element.size()) > ctx.options().chunk_bytes))
        send_chunk(ctx, enc);
    enc.add(element);
}

// A snapshot row limited to the projection (plus the key).
std::string project(std::string_view row, const std::set<std::string>& columns)
{
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

}  // namespace

void run_snapshot(StreamContext& ctx)
{
    const auto& stream = ctx.stream();
    const auto& req = stream.request.snapshot();
    const std::string name = quoted(req.schema_name(), req.table_name());
    const auto started = std::chrono::steady_clock::now();

    PgConnection conn = open_transaction(ctx.options());
    std::vector<std::string> projection(req.columns().begin(), req.columns().end());
    auto info = conn.exec_params(
        "SELECT c.oid, p.columns IS NOT NULL,"
        "       array_to_string(ARRAY(SELECT x FROM unnest($3::text[]) x"
        "                              WHERE x <> ALL (coalesce(p.columns, '{}'))), ', '),"
        "       pg_catalog.pg_current_snapshot()::text,"
        "       coalesce(s.last_seq, 0), coalesce(s.schema_seq, 0), coalesce(s.schema, ''),"
        "       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname)"
        "  FROM pg_catalog.pg_class c"
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "  LEFT JOIN tablepub.publications p ON p.\"table\" = c.oid::regclass"
        "  LEFT JOIN tablepub.relay_stream s ON s.relid = c.oid"
        " WHERE n.nspname = $1 AND c.relname = $2",
        {req.schema_name(), req.table_name(), pg_array_literal(projection)});
    if (info.rows() == 0) {
        ctx.send_error(v1::UNKNOWN_TABLE, "table " + name + " does not exist");
        return;
    }
    if (info.value(0, 1) != "t") {
        ctx.send_error(v1::NOT_PUBLISHED, "table " + name + " is not published");
        return;
    }
    if (!info.value(0, 2).empty()) {
        ctx.send_error(v1::COLUMN_NOT_PUBLISHED,
                       "column(s) " + info.text(0, 2) + " of table " + name + " are not published");
        return;
    }
    const auto snap = PgSnapshot::parse(info.value(0, 3));
    if (!snap) throw Error("unexpected pg_current_snapshot() " + info.text(0, 3));

    v1::Reply begin;
    begin.set_request_id(stream.request_id);
    auto* b = begin.mutable_snapshot_begin();
    b->set_xmin(snap->xmin);
    b->set_xmax(snap->xmax);
    for (auto x : snap->xip) b->add_xip(x);
    b->set_seq(static_cast<std::uint64_t>(info.int64(0, 4)));
    b->set_schema_seq(static_cast<std::uint64_t>(info.int64(0, 5)));
    const auto schema_bytes = unhex(info.value(0, 6));
    if (!schema_bytes.empty() && !b->mutable_schema()->ParseFromString(schema_bytes))
        throw Error("malformed schema in tablepub.relay_stream for " + name);
    b->set_schema_name(req.schema_name());
    b->set_table_name(req.table_name());

    conn.exec("DECLARE tablepub_snapshot NO SCROLL CURSOR FOR SELECT tablepub.encode_row(" +
              info.text(0, 0) + "::pg_catalog.oid::pg_catalog.regclass, t) FROM " + info.text(0, 7) +
              " t");
    ctx.send(begin);

    const std::set<std::string> columns(projection.begin(), projection.end());
    const auto n = ctx.chunk_rows();
    ChunkEncoder enc(ChunkEncoder::Kind::snapshot_rows, stream.request_id);
    std::uint64_t rows = 0;
    // Row by row: the relay holds one row of the table at a time, however
    // large the rows; the server waits while the client grants no credit.
    conn.send_row_by_row("FETCH ALL FROM tablepub_snapshot", {}, true);
    while (PgResult row = conn.next_row()) {
        std::string projected;
        std::string_view bytes = row.value(0, 0);
        // Checked before parsing too: the size then fits protobuf's int.
        check_element_size(ctx, bytes.size(), "a row", name);
        if (!columns.empty()) bytes = projected = project(bytes, columns);
        add_bounded(ctx, enc, n, bytes, "a row", name);
        ++rows;
    }
    if (enc.count() > 0) send_chunk(ctx, enc);
    conn.exec("COMMIT");

    v1::Reply end;
    end.set_request_id(stream.request_id);
    end.mutable_snapshot_end()->set_row_count(rows);
    ctx.send(end);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    spdlog::info("snapshot of {}: {} rows at seq {} in {} ms", name, rows, b->seq(), ms);
}

namespace {

struct BatchRange {
    std::string prev, snap;
    std::uint64_t first = 0, last = 0;
};

}  // namespace

// Re-runs the sequencer over the retained batches of the table: the same
// outbox rows in the same order through the same code give the same seqs
// and bytes as the original publication.
void run_replay(StreamContext& ctx)
{
    const auto& stream = ctx.stream();
    const auto& req = stream.request.replay();
    const std::string name = quoted(req.schema_name(), req.table_name());
    const auto from = req.from_seq();

    PgConnection conn = open_transaction(ctx.options());
    auto info = conn.exec_params(
        "SELECT s.relid, s.last_seq, s.schema_seq, coalesce(s.schema, ''), s.published"
        "  FROM tablepub.relay_stream s WHERE s.schema_name = $1 AND s.table_name = $2",
        {req.schema_name(), req.table_name()});
    if (info.rows() == 0) {
        auto exists = conn.exec_params(
            "SELECT p.\"table\" IS NOT NULL FROM pg_catalog.pg_class c"
            "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            "  LEFT JOIN tablepub.publications p ON p.\"table\" = c.oid::regclass"
            " WHERE n.nspname = $1 AND c.relname = $2",
            {req.schema_name(), req.table_name()});
        if (exists.rows() == 0)
            ctx.send_error(v1::UNKNOWN_TABLE, "table " + name + " does not exist");
        else if (exists.value(0, 0) != "t")
            ctx.send_error(v1::NOT_PUBLISHED, "table " + name + " is not published");
        else
            ctx.send_error(v1::GONE, "the relay has published nothing durable for table " + name +
                                         " yet");
        return;
    }
    const auto relid = static_cast<std::uint32_t>(info.int64(0, 0));
    const auto last_seq = static_cast<std::uint64_t>(info.int64(0, 1));
    const auto schema_seq_now = static_cast<std::uint64_t>(info.int64(0, 2));
    const auto to = req.to_seq() == 0 ? last_seq : std::min(req.to_seq(), last_seq);

    auto send_begin = [&](std::uint64_t last) {
        v1::Reply r;
        r.set_request_id(stream.request_id);
        auto* rb = r.mutable_replay_begin();
        rb->set_schema_name(req.schema_name());
        rb->set_table_name(req.table_name());
        rb->set_from_seq(from);
        rb->set_to_seq(last);
        ctx.send(r);
    };
    auto send_end = [&](std::uint64_t count) {
        v1::Reply r;
        r.set_request_id(stream.request_id);
        r.mutable_replay_end()->set_message_count(count);
        ctx.send(r);
    };
    if (from > to) {
        send_begin(from - 1);
        send_end(0);
        return;
    }

    auto batches = conn.exec_params(
        "SELECT b.prev::text, b.snap::text, u.f, u.l"
        "  FROM tablepub.relay_batch b, unnest(b.relids, b.first_seq, b.last_seq) AS u(relid, f, l)"
        " WHERE b.done IS NOT NULL AND u.relid = $1::oid AND u.l >= $2 AND u.f <= $3"
        " ORDER BY b.batch_id",
        {std::to_string(relid), std::to_string(from), std::to_string(to)});
    std::vector<BatchRange> ranges;
    for (int i = 0; i < batches.rows(); ++i)
        ranges.push_back({batches.text(i, 0), batches.text(i, 1),
                          static_cast<std::uint64_t>(batches.int64(i, 2)),
                          static_cast<std::uint64_t>(batches.int64(i, 3))});
    bool covered = !ranges.empty() && ranges.front().first <= from && ranges.back().last >= to;
    for (std::size_t i = 1; covered && i < ranges.size(); ++i)
        covered = ranges[i].first == ranges[i - 1].last + 1;
    if (!covered) {
        ctx.send_error(v1::GONE, "messages from seq " + std::to_string(from) + " of table " + name +
                                     " are no longer retained");
        return;
    }
    // The stream as it was before the first batch. Its schema_seq is known
    // only when no SCHEMA message came since (relay_batch does not keep it).
    bool starts_with_schema = false;
    if (schema_seq_now >= ranges.front().first) {
        // Still fine when the first message of that batch is itself a SCHEMA
        // (it carries its own seq as schema_seq).
        auto first = conn.exec("SELECT q.change FROM (" +
                               batch_query(conn.escape_literal(ranges.front().prev),
                                           conn.escape_literal(ranges.front().snap)) +
                               ") q WHERE q.relid = " + std::to_string(relid) + " LIMIT 1");
        starts_with_schema = first.rows() == 1 && peek_op(unhex(first.value(0, 0))) == ChangeOp::schema;
    }
    if (schema_seq_now >= ranges.front().first && !starts_with_schema) {
        ctx.send_error(v1::GONE, "a schema change of table " + name + " since seq " +
                                     std::to_string(ranges.front().first) +
                                     " prevents replaying from seq " + std::to_string(from));
        return;
    }
    // Every outbox row of those batches must still be there: a missing one
    // would shift the numbers of all that follow.
    for (const auto& r : ranges) {
        auto count = conn.exec("SELECT count(*) FROM (" +
                               batch_query(conn.escape_literal(r.prev), conn.escape_literal(r.snap)) +
                               ") q WHERE q.relid = " + std::to_string(relid));
        if (static_cast<std::uint64_t>(count.int64(0, 0)) != r.last - r.first + 1) {
            ctx.send_error(v1::GONE, "the outbox rows of seq " + std::to_string(r.first) + ".." +
                                         std::to_string(r.last) + " of table " + name +
                                         " are no longer retained");
            return;
        }
    }
    StreamState start;
    start.relid = relid;
    start.schema_name = req.schema_name();
    start.table_name = req.table_name();
    start.last_seq = ranges.front().first - 1;
    start.schema_seq = starts_with_schema ? 0 : schema_seq_now;
    start.schema = unhex(info.value(0, 3));
    start.published = true;

    send_begin(to);
    ChunkEncoder enc(ChunkEncoder::Kind::replay_messages, stream.request_id);
    const auto n = ctx.chunk_rows();
    std::uint64_t sent = 0;
    std::uint64_t produced_last = start.last_seq;
    Sequencer seq(
        [&](std::string_view, std::string_view body) {
            v1::Message m;
            if (!m.ParseFromArray(body.data(), static_cast<int>(body.size())))
                throw Error("sequencer produced a malformed message");
            produced_last = m.seq();
            if (m.seq() < from || m.seq() > to) return;
            add_bounded(ctx, enc, n, body, "a message", name);
            ++sent;
        },
        [&](std::uint32_t) { return std::make_pair(req.schema_name(), req.table_name()); });
    seq.load({start});
    for (const auto& r : ranges) {
        conn.exec("DECLARE tablepub_replay NO SCROLL CURSOR FOR SELECT q.relid, q.txid, q.change FROM (" +
                  batch_query(conn.escape_literal(r.prev), conn.escape_literal(r.snap)) +
                  ") q WHERE q.relid = " + std::to_string(relid));
        seq.begin_batch();
        // Row by row, as for a snapshot: one outbox row in memory at a time.
        conn.send_row_by_row("FETCH ALL FROM tablepub_replay", {}, false);
        while (PgResult row = conn.next_row())
            seq.add(relid, static_cast<std::uint64_t>(row.int64(0, 1)), unhex(row.value(0, 2)));
        seq.end_batch();
        conn.exec("CLOSE tablepub_replay");
        if (produced_last != r.last)
            throw Error("replay of " + name + " produced seq up to " + std::to_string(produced_last) +
                        " for a batch that ended at " + std::to_string(r.last));
        if (produced_last >= to) break;
    }
    if (enc.count() > 0) send_chunk(ctx, enc);
    conn.exec("COMMIT");
    send_end(sent);
    spdlog::info("replay of {}: seq {}..{} ({} messages)", name, from, to, sent);
}

}  // namespace tablepub::sync
