#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/pg_result.hpp"

struct pg_conn;

namespace tablepub {

// Owns one libpq connection; move-only. Every failing call throws DbError,
// or ConnectionLost when the session is gone (SQLSTATE class 08, 57P0x,
// or a bad connection status).
class PgConnection {
public:
    PgConnection() noexcept = default;
    // Connects (blocking); conninfo may be a keyword string or a URI, and
    // the PG* environment variables fill in what it leaves out.
    explicit PgConnection(const std::string& conninfo);
    PgConnection(PgConnection&& other) noexcept : conn_(other.conn_), sent_sql_(std::move(other.sent_sql_)) {
        other.conn_ = nullptr;
    }
    PgConnection& operator=(PgConnection&& other) noexcept;
    PgConnection(const PgConnection&) = delete;
    PgConnection& operator=(const PgConnection&) = delete;
    ~PgConnection();

    [[nodiscard]] explicit operator bool() const noexcept { return conn_ != nullptr; }
    [[nodiscard]] bool ok() const noexcept;

    // Runs one or more statements (simple protocol); returns the last result.
    PgResult exec(const std::string& sql);
    // Runs one statement with text parameters; binary_result asks for
    // binary-format columns.
    PgResult exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                         bool binary_result = false);
    // Sends one statement without waiting; collect it with wait_result().
    void send_params(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                     bool binary_result = false);
    // Waits for the result of send_params() and checks it.
    PgResult wait_result();
    // Sends one row-returning statement whose rows are then collected one at
    // a time with next_row() (libpq's single-row mode): memory holds one row,
    // however large the result.
    void send_row_by_row(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                         bool binary_result = false);
    // The next row of send_row_by_row() as a one-row result, or an empty
    // PgResult after the last one; throws on error.
    PgResult next_row();

    // The socket to poll for readability (notifications).
    [[nodiscard]] int socket() const noexcept;
    // Reads what arrived on the socket and returns the number of pending
    // notifications it consumed.
    int consume_notifications();
    // After consume_notifications(): true when the result of send_params()
    // can be collected without blocking.
    [[nodiscard]] bool result_ready() const noexcept;

    [[nodiscard]] std::string escape_literal(const std::string& s) const;
    // An SQL identifier, always double-quoted (PQescapeIdentifier).
    [[nodiscard]] std::string escape_identifier(const std::string& s) const;
    // The text form of a bytea parameter value ("\\x..."), by libpq
    // (PQescapeByteaConn); throws unless standard_conforming_strings is on.
    [[nodiscard]] std::string bytea_param(std::string_view bytes) const;
    [[nodiscard]] int backend_pid() const noexcept;

private:
    PgResult check(PgResult res, const std::string& sql);
    // The text of a string libpq allocated (an escaped literal, identifier
    // or bytea), freed; throws if libpq returned none.
    [[nodiscard]] std::string take_escaped(void* escaped) const;
    [[noreturn]] void fail(const std::string& what, const std::string& sqlstate, const std::string& context);

    pg_conn* conn_ = nullptr;
    std::string sent_sql_;  // the statement of send_params(), for errors of its result
};

}  // namespace tablepub
