#include "common/pg_result.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <memory>

#include "common/error.hpp"

namespace tablepub {

PgResult& PgResult::operator=(PgResult&& other) noexcept {
    if (this != &other) {
        PQclear(res_);
        res_ = other.res_;
        other.res_ = nullptr;
    }
    return *this;
}

PgResult::~PgResult() { PQclear(res_); }

int PgResult::rows() const noexcept { return res_ ? PQntuples(res_) : 0; }

int PgResult::columns() const noexcept { return res_ ? PQnfields(res_) : 0; }

bool PgResult::is_null(int row, int col) const noexcept { return PQgetisnull(res_, row, col) != 0; }

std::string_view PgResult::value(int row, int col) const noexcept {
    return {PQgetvalue(res_, row, col), static_cast<std::size_t>(PQgetlength(res_, row, col))};
}

std::string PgResult::bytea(int row, int col) const {
    if (PQfformat(res_, col) == 1) return std::string(value(row, col));
    std::size_t n = 0;
    const std::unique_ptr<unsigned char, decltype(&PQfreemem)> raw(
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(res_, row, col)), &n), &PQfreemem);
    if (!raw) throw Error("out of memory decoding a bytea value");
    return std::string(reinterpret_cast<const char*>(raw.get()), n);
}

std::int64_t PgResult::int64(int row, int col) const {
    const auto v = value(row, col);
    std::int64_t out = 0;
    const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || ptr != v.data() + v.size()) {
        throw Error("expected an integer, got \"" + std::string(v) + "\"");
    }
    return out;
}

}  // namespace tablepub
