#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// libpq's handle types, declared so that libpq-fe.h stays out of our headers.
struct pg_result;

namespace tablepub {

// Owns one PGresult; move-only.
class PgResult {
public:
    PgResult() noexcept = default;
    explicit PgResult(pg_result* res) noexcept : res_(res) {}
    PgResult(PgResult&& other) noexcept : res_(other.res_) { other.res_ = nullptr; }
    PgResult& operator=(PgResult&& other) noexcept;
    PgResult(const PgResult&) = delete;
    PgResult& operator=(const PgResult&) = delete;
    ~PgResult();

    [[nodiscard]] explicit operator bool() const noexcept { return res_ != nullptr; }
    [[nodiscard]] int rows() const noexcept;
    [[nodiscard]] int columns() const noexcept;
    [[nodiscard]] bool is_null(int row, int col) const noexcept;
    // The raw bytes of a field (text, or binary when requested so).
    [[nodiscard]] std::string_view value(int row, int col) const noexcept;
    [[nodiscard]] std::string text(int row, int col) const { return std::string(value(row, col)); }
    // A bytea field as raw bytes, whichever format the result has (libpq
    // decodes the text format: PQunescapeBytea).
    [[nodiscard]] std::string bytea(int row, int col) const;
    // Text-format integer field.
    [[nodiscard]] std::int64_t int64(int row, int col) const;
    [[nodiscard]] pg_result* get() const noexcept { return res_; }

private:
    pg_result* res_ = nullptr;
};

}  // namespace tablepub
