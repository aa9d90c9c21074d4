#include "relay/state_store.hpp"

#include "common/error.hpp"
#include "common/pg_connection.hpp"
#include "relay/wal_flush.hpp"

namespace tablepub {

namespace {

const char* const LOCK_KEY = "8386092198838433122";  // tablepub.relay_lock_key()

// The outbox row layouts this relay reads, as it tells relay_next_batch and
// relay_finish_batch: 2 = plain and packed rows (common/outbox_pack.hpp).
// An extension that writes a layout a relay does not read refuses it.
const char* const OUTBOX_FORMAT = "2";

}  // namespace

std::string pg_array_literal(const std::vector<std::string>& elements) {
    std::string out = "{";
    for (std::size_t i = 0; i < elements.size(); ++i) {
        if (i) out += ',';
        out += '"';
        for (const char c : elements[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

// (EXTRACT is grammar, always pg_catalog's: it cannot be qualified.)
std::string batch_commit_time_sql(const std::string& alias) {
    return "coalesce((extract(epoch FROM " + alias + ".snap_time) * 1000000)::int8, 0)";
}

void StateStore::check_extension() {
    auto res = conn_.exec(
        "SELECT extversion, to_regprocedure('tablepub.relay_next_batch(boolean, int4)') IS NOT NULL AND "
        "to_regprocedure('tablepub.relay_finish_batch(int8, oid[], int8[], int8[], int8[], int8[], text[], text[], "
        "bytea[], boolean[], boolean, int8, int4)') IS NOT NULL "
        "FROM pg_extension WHERE extname = 'tablepub'");
    if (res.rows() == 0) {
        throw ConfigError("extension tablepub is not installed in this database (run CREATE EXTENSION tablepub)");
    }
    if (res.value(0, 1) != "t") {
        throw ConfigError("extension tablepub " + res.text(0, 0) +
                          " lacks the relay functions this relay needs (run ALTER EXTENSION tablepub UPDATE)");
    }
}

void StateStore::make_commits_durable() { tablepub::make_commits_durable(conn_); }

void StateStore::flush_wal() { tablepub::flush_wal(conn_); }

std::optional<int> StateStore::try_lock() {
    auto res = conn_.exec_params("SELECT pg_try_advisory_lock($1::int8)", {LOCK_KEY});
    if (res.value(0, 0) == "t") return std::nullopt;
    auto holder = conn_.exec_params(
        "SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = ($1::int8 >> 32)::oid AND objid = ($1::int8 & 4294967295)::oid AND objsubid = 1",
        {LOCK_KEY});
    return static_cast<int>(holder.int64(0, 0));
}

void StateStore::send_lock_wait() { conn_.send_params("SELECT pg_advisory_lock($1::int8)", {LOCK_KEY}); }

std::vector<StreamState> StateStore::load_streams() {
    auto res = conn_.exec(
        "SELECT relid, schema_name, table_name, last_seq, schema_seq, coalesce(schema, ''), published "
        "FROM tablepub.relay_stream");
    std::vector<StreamState> out;
    out.reserve(static_cast<std::size_t>(res.rows()));
    for (int i = 0; i < res.rows(); ++i) {
        StreamState s;
        s.relid = static_cast<std::uint32_t>(res.int64(i, 0));
        s.schema_name = res.text(i, 1);
        s.table_name = res.text(i, 2);
        s.last_seq = static_cast<std::uint64_t>(res.int64(i, 3));
        s.schema_seq = static_cast<std::uint64_t>(res.int64(i, 4));
        s.schema = res.bytea(i, 5);
        s.published = res.value(i, 6) == "t";
        out.push_back(std::move(s));
    }
    return out;
}

std::uint64_t StateStore::load_last_position() {
    auto res = conn_.exec("SELECT last_position FROM tablepub.relay_state");
    return static_cast<std::uint64_t>(res.int64(0, 0));
}

std::optional<Batch> StateStore::next_batch_query(bool force) {
    auto res =
        conn_.exec("SELECT b.batch_id, b.prev, b.snap, " + batch_commit_time_sql("b") +
                   (force ? " FROM tablepub.relay_next_batch(true, " : " FROM tablepub.relay_next_batch(false, ") +
                   OUTBOX_FORMAT + ") b");
    if (res.rows() == 0) return std::nullopt;
    return Batch{res.int64(0, 0), res.text(0, 1), res.text(0, 2), res.int64(0, 3)};
}

std::optional<Batch> StateStore::next_batch(bool force) { return next_batch_query(force); }

std::optional<Batch> StateStore::finish_and_next(const Batch& done, const std::vector<StreamUpdate>& updates,
                                                 std::uint64_t last_position, bool next) {
    std::vector<std::string> relids, first, last, prev_schema_seq, schema_seq, schema_names, table_names, schemas,
        published;
    for (const auto& u : updates) {
        relids.push_back(std::to_string(u.state.relid));
        first.push_back(std::to_string(u.first_seq));
        prev_schema_seq.push_back(std::to_string(u.prev_schema_seq));
        last.push_back(std::to_string(u.state.last_seq));
        schema_seq.push_back(std::to_string(u.state.schema_seq));
        schema_names.push_back(u.state.schema_name);
        table_names.push_back(u.state.table_name);
        schemas.push_back(conn_.bytea_param(u.state.schema));
        published.push_back(u.state.published ? "t" : "f");
    }
    // One statement, so one implicit transaction and one round trip.
    auto res = conn_.exec_params(
        "SELECT b.batch_id, b.prev, b.snap, " + batch_commit_time_sql("b") +
            " FROM tablepub.relay_finish_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) b",
        {std::to_string(done.id), pg_array_literal(relids), pg_array_literal(first), pg_array_literal(last),
         pg_array_literal(prev_schema_seq), pg_array_literal(schema_seq), pg_array_literal(schema_names),
         pg_array_literal(table_names), pg_array_literal(schemas), pg_array_literal(published), next ? "t" : "f",
         std::to_string(last_position), OUTBOX_FORMAT});
    if (res.rows() == 0) return std::nullopt;
    return Batch{res.int64(0, 0), res.text(0, 1), res.text(0, 2), res.int64(0, 3)};
}

std::string StateStore::maintain() {
    auto res = conn_.exec("SELECT rotated, truncated, batches_deleted FROM tablepub.relay_maintain()");
    return "rotated " + res.text(0, 0) + ", truncated partitions " + res.text(0, 1) + ", old batches removed " +
           res.text(0, 2);
}

void StateStore::record_moves(const std::vector<TopicMove>& moves) {
    std::vector<std::string> relids, schema_names, table_names, seqs;
    for (const auto& m : moves) {
        relids.push_back(std::to_string(m.relid));
        schema_names.push_back(m.schema_name);
        table_names.push_back(m.table_name);
        seqs.push_back(std::to_string(m.seq));
    }
    // The row of the batch that holds the move: the latest one of those
    // names that starts at or before it.
    conn_.exec_params(
        "UPDATE tablepub.relay_topic_history h SET seq = m.seq"
        "  FROM unnest($1::oid[], $2::text[], $3::text[], $4::int8[]) AS m(relid, schema_name, table_name, seq)"
        " WHERE h.relid = m.relid AND h.schema_name = m.schema_name AND h.table_name = m.table_name"
        "   AND h.from_seq = (SELECT max(x.from_seq) FROM tablepub.relay_topic_history x"
        "                      WHERE x.relid = m.relid AND x.schema_name = m.schema_name"
        "                        AND x.table_name = m.table_name AND x.from_seq <= m.seq)",
        {pg_array_literal(relids), pg_array_literal(schema_names), pg_array_literal(table_names),
         pg_array_literal(seqs)});
}

std::vector<TopicMove> StateStore::load_moves() {
    auto res = conn_.exec(
        "SELECT DISTINCT ON (h.schema_name, h.table_name) h.relid, h.schema_name, h.table_name,"
        "       s.schema_name, s.table_name, h.seq"
        "  FROM tablepub.relay_topic_history h JOIN tablepub.relay_stream s ON s.relid = h.relid"
        " WHERE h.seq IS NOT NULL"
        "   AND (s.schema_name, s.table_name) IS DISTINCT FROM (h.schema_name, h.table_name)"
        " ORDER BY h.schema_name, h.table_name, h.renamed DESC, h.from_seq DESC");
    std::vector<TopicMove> out;
    for (int i = 0; i < res.rows(); ++i) {
        out.push_back(TopicMove{static_cast<std::uint32_t>(res.int64(i, 0)), res.text(i, 1), res.text(i, 2),
                                res.text(i, 3), res.text(i, 4), static_cast<std::uint64_t>(res.int64(i, 5))});
    }
    return out;
}

std::pair<std::string, std::string> StateStore::table_name(std::uint32_t relid) {
    auto res = conn_.exec_params(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = $1::oid",
        {std::to_string(relid)});
    if (res.rows() == 0) return {"", std::to_string(relid)};
    return {res.text(0, 0), res.text(0, 1)};
}

std::string StateStore::outbox_row_pos(std::uint64_t txid, std::uint64_t row_in_tx) {
    auto res =
        conn_.exec_params("SELECT pos FROM tablepub.outbox WHERE txid = $1::xid8 ORDER BY pos OFFSET $2::int8 LIMIT 1",
                          {std::to_string(txid), std::to_string(row_in_tx)});
    return res.rows() == 0 ? std::string() : res.text(0, 0);
}

}  // namespace tablepub
