#include "common/error.hpp"

#include <utility>

namespace tablepub {

namespace {

// Statements longer than this are cut in a log line.
constexpr std::size_t STATEMENT_LOG_CHARS = 120;

// A statement on one line: whitespace runs become one space.
std::string one_line(const std::string& sql) {
    std::string out;
    for (const char c : sql) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out += space ? ' ' : c;
        if (out.size() > STATEMENT_LOG_CHARS) {
            out.resize(STATEMENT_LOG_CHARS);
            return out + "...";
        }
    }
    if (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

}  // namespace

std::string describe(const std::exception& e) {
    std::string out = e.what();
    // Only database errors carry a statement as their context.
    const Error* err = dynamic_cast<const DbError*>(&e);
    if (err == nullptr) err = dynamic_cast<const ConnectionLost*>(&e);
    if (err == nullptr || (err->sqlstate().empty() && err->context().empty())) return out;
    out += " (";
    if (!err->sqlstate().empty()) out += "SQLSTATE " + err->sqlstate();
    if (!err->sqlstate().empty() && !err->context().empty()) out += "; ";
    if (!err->context().empty()) out += "statement: " + one_line(err->context());
    return out + ")";
}

Error::Error(const std::string& message, std::string sqlstate, std::string context)
    : std::runtime_error(message), sqlstate_(std::move(sqlstate)), context_(std::move(context)) {}

}  // namespace tablepub
