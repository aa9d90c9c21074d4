#include "sync/request_limits.hpp"

#include <set>
#include <utility>

namespace tablepub {

namespace {

std::optional<std::string> name_problem(const char* field, const std::string& name) {
    if (name.empty()) return std::string(field) + " is required";
    if (name.size() > MAX_NAME_BYTES)
        return std::string(field) + " is " + std::to_string(name.size()) +
               " bytes long; PostgreSQL names have at most " + std::to_string(MAX_NAME_BYTES);
    if (name.find('\0') != std::string::npos) return std::string(field) + " contains a zero byte";
    return std::nullopt;
}

std::optional<std::string> columns_problem(const google::protobuf::RepeatedPtrField<std::string>& columns) {
    if (columns.size() > MAX_COLUMNS)
        return "the projection names " + std::to_string(columns.size()) + " columns; a table has at most " +
               std::to_string(MAX_COLUMNS);
    for (const auto& c : columns)
        if (auto p = name_problem("a column name", c)) return p;
    return std::nullopt;
}

// The further tables of a multi-table snapshot: named, projections within
// bounds, at most MAX_SNAPSHOT_TABLES in all, none twice.
std::optional<std::string> more_tables_problem(const v1::SnapshotRequest& s) {
    if (s.more_tables_size() + 1 > MAX_SNAPSHOT_TABLES)
        return "the snapshot names " + std::to_string(s.more_tables_size() + 1) + " tables; at most " +
               std::to_string(MAX_SNAPSHOT_TABLES) + " per request";
    std::set<std::pair<std::string, std::string>> seen{{s.schema_name(), s.table_name()}};
    for (const auto& t : s.more_tables()) {
        if (auto p = name_problem("more_tables.schema_name", t.schema_name())) return p;
        if (auto p = name_problem("more_tables.table_name", t.table_name())) return p;
        if (auto p = columns_problem(t.columns())) return p;
        if (!seen.emplace(t.schema_name(), t.table_name()).second)
            return "the snapshot names table \"" + t.schema_name() + "\".\"" + t.table_name() + "\" twice";
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> request_problem(const v1::Request& req) {
    if (req.request_id() == 0) return "request_id must not be 0";
    const bool snapshot = req.has_snapshot();
    if (!snapshot && req.replay().transactions()) {
        // The transaction topic ".tx": no table, from_seq/to_seq are positions.
        if (!req.replay().schema_name().empty() || !req.replay().table_name().empty())
            return "a replay of the transactions names no table (schema_name and table_name must be empty)";
        if (req.replay().from_seq() == 0) return "replay from_seq must be at least 1";
        if (req.replay().from_seq() > MAX_SEQ || req.replay().to_seq() > MAX_SEQ)
            return "replay from_seq and to_seq must be at most " + std::to_string(MAX_SEQ);
        return std::nullopt;
    }
    const auto& schema = snapshot ? req.snapshot().schema_name() : req.replay().schema_name();
    const auto& table = snapshot ? req.snapshot().table_name() : req.replay().table_name();
    if (auto p = name_problem("schema_name", schema)) return p;
    if (auto p = name_problem("table_name", table)) return p;
    if (snapshot) {
        if (auto p = columns_problem(req.snapshot().columns())) return p;
        if (auto p = more_tables_problem(req.snapshot())) return p;
    } else {
        if (req.replay().from_seq() == 0) return "replay from_seq must be at least 1";
        if (req.replay().from_seq() > MAX_SEQ || req.replay().to_seq() > MAX_SEQ)
            return "replay from_seq and to_seq must be at most " + std::to_string(MAX_SEQ);
    }
    return std::nullopt;
}

}  // namespace tablepub
