#include "sync/request_limits.hpp"

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

}  // namespace

std::optional<std::string> request_problem(const v1::Request& req) {
    if (req.request_id() == 0) return "request_id must not be 0";
    const bool snapshot = req.has_snapshot();
    const auto& schema = snapshot ? req.snapshot().schema_name() : req.replay().schema_name();
    const auto& table = snapshot ? req.snapshot().table_name() : req.replay().table_name();
    if (auto p = name_problem("schema_name", schema)) return p;
    if (auto p = name_problem("table_name", table)) return p;
    if (snapshot) {
        const auto& columns = req.snapshot().columns();
        if (columns.size() > MAX_COLUMNS)
            return "the projection names " + std::to_string(columns.size()) + " columns; a table has at most " +
                   std::to_string(MAX_COLUMNS);
        for (const auto& c : columns)
            if (auto p = name_problem("a column name", c)) return p;
    } else {
        if (req.replay().from_seq() == 0) return "replay from_seq must be at least 1";
        if (req.replay().from_seq() > MAX_SEQ || req.replay().to_seq() > MAX_SEQ)
            return "replay from_seq and to_seq must be at most " + std::to_string(MAX_SEQ);
    }
    return std::nullopt;
}

}  // namespace tablepub
