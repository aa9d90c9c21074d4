#pragma once

#include <stdexcept>
#include <string>

namespace tablepub {

// Root of every exception tablepub throws; carries the SQLSTATE when the
// error came from PostgreSQL and a context (endpoint, statement, ...).
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, std::string sqlstate = {}, std::string context = {});

    [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }
    [[nodiscard]] const std::string& context() const noexcept { return context_; }

private:
    std::string sqlstate_;
    std::string context_;
};

// The one line a log gets for an error: its message, then for a database
// error the SQLSTATE and the statement that failed (its first words, so
// that a long query stays one short line; never its parameters), e.g.
//   permission denied for function relay_maintain (SQLSTATE 42501;
//   statement: SELECT rotated, ... FROM tablepub.relay_maintain())
[[nodiscard]] std::string describe(const std::exception& e);

// An error reported by the database for one statement; the session is usable.
class DbError : public Error {
public:
    using Error::Error;
};

// The connection to the database is gone (SQLSTATE class 08, or libpq says
// the connection is bad): reconnect and redo from durable state.
class ConnectionLost : public Error {
public:
    using Error::Error;
};

// Bad configuration or usage: report and exit, retrying cannot help.
class ConfigError : public Error {
public:
    using Error::Error;
};

}  // namespace tablepub
