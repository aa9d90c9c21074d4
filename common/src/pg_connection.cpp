#include "common/pg_connection.hpp"

#include <libpq-fe.h>

#include <cstring>
#include <memory>

#include "common/error.hpp"

namespace tablepub {

namespace {

// First line of a libpq message, without the trailing newline.
std::string first_line(const char* msg) {
    std::string s = msg ? msg : "";
    if (const auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
}

// Connection-class SQLSTATEs: the session is gone or the server is going.
bool is_connection_state(const std::string& sqlstate) {
    return sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

std::vector<const char*> param_pointers(const std::vector<std::optional<std::string>>& params) {
    std::vector<const char*> out;
    out.reserve(params.size());
    for (const auto& p : params) out.push_back(p ? p->c_str() : nullptr);
    return out;
}

}  // namespace

PgConnection::PgConnection(const std::string& conninfo) {
    conn_ = PQconnectdb(conninfo.c_str());
    if (conn_ == nullptr) throw ConnectionLost("out of memory creating a database connection");
    if (PQstatus(conn_) != CONNECTION_OK) {
        const std::string msg = first_line(PQerrorMessage(conn_));
        PQfinish(conn_);
        conn_ = nullptr;
        throw ConnectionLost("cannot connect to the database: " + msg, "08006");
    }
}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
    if (this != &other) {
        PQfinish(conn_);
        conn_ = other.conn_;
        other.conn_ = nullptr;
        sent_sql_ = std::move(other.sent_sql_);
    }
    return *this;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::ok() const noexcept { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

void PgConnection::fail(const std::string& what, const std::string& sqlstate, const std::string& context) {
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || is_connection_state(sqlstate)) {
        // libpq's own errors (the server went away) have no SQLSTATE:
        // connection_failure is what they mean.
        throw ConnectionLost("database connection lost: " + what, sqlstate.empty() ? "08006" : sqlstate, context);
    }
    throw DbError(what, sqlstate, context);
}

PgResult PgConnection::check(PgResult res, const std::string& sql) {
    if (!res) fail(first_line(PQerrorMessage(conn_)), "", sql);
    switch (PQresultStatus(res.get())) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
        case PGRES_SINGLE_TUPLE:
        case PGRES_EMPTY_QUERY: return res;
        default: {
            const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
            fail(first_line(PQresultErrorMessage(res.get())), state ? state : "", sql);
        }
    }
}

PgResult PgConnection::exec(const std::string& sql) {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    return check(PgResult(PQexec(conn_, sql.c_str())), sql);
}

PgResult PgConnection::exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                                   bool binary_result) {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    const auto ptrs = param_pointers(params);
    return check(PgResult(PQexecParams(conn_, sql.c_str(), static_cast<int>(ptrs.size()), nullptr, ptrs.data(), nullptr,
                                       nullptr, binary_result ? 1 : 0)),
                 sql);
}

void PgConnection::send_params(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                               bool binary_result) {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    const auto ptrs = param_pointers(params);
    if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(ptrs.size()), nullptr, ptrs.data(), nullptr, nullptr,
                          binary_result ? 1 : 0) == 0) {
        fail(first_line(PQerrorMessage(conn_)), "", sql);
    }
    sent_sql_ = sql;
}

PgResult PgConnection::wait_result() {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    // Keep the first result (an error wins), then drain to the terminating null.
    PgResult first(PQgetResult(conn_));
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    return check(std::move(first), sent_sql_);
}

void PgConnection::send_row_by_row(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                                   bool binary_result) {
    send_params(sql, params, binary_result);
    if (PQsetSingleRowMode(conn_) == 0) fail("cannot switch to single-row mode", "", sql);
}

PgResult PgConnection::next_row() {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    PgResult res(PQgetResult(conn_));
    if (res && PQresultStatus(res.get()) == PGRES_SINGLE_TUPLE) return res;
    // The end (an empty PGRES_TUPLES_OK) or an error: drain to the null result.
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    check(std::move(res), sent_sql_);
    return PgResult();
}

int PgConnection::socket() const noexcept { return conn_ ? PQsocket(conn_) : -1; }

int PgConnection::consume_notifications() {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    if (PQconsumeInput(conn_) == 0) fail(first_line(PQerrorMessage(conn_)), "", "(waiting for notifications)");
    int n = 0;
    while (PGnotify* note = PQnotifies(conn_)) {
        PQfreemem(note);
        ++n;
    }
    return n;
}

bool PgConnection::result_ready() const noexcept { return conn_ != nullptr && PQisBusy(conn_) == 0; }

std::string PgConnection::take_escaped(void* escaped) const {
    const std::unique_ptr<void, decltype(&PQfreemem)> owned(escaped, &PQfreemem);
    if (!owned) throw DbError(first_line(PQerrorMessage(conn_)));
    return std::string(static_cast<const char*>(owned.get()));
}

std::string PgConnection::escape_literal(const std::string& s) const {
    return take_escaped(PQescapeLiteral(conn_, s.data(), s.size()));
}

std::string PgConnection::escape_identifier(const std::string& s) const {
    return take_escaped(PQescapeIdentifier(conn_, s.data(), s.size()));
}

std::string PgConnection::bytea_param(std::string_view bytes) const {
    // libpq writes the form a string literal needs; only with
    // standard_conforming_strings on is that the bare bytea text a
    // parameter takes (off doubles the backslash).
    const char* std_strings = PQparameterStatus(conn_, "standard_conforming_strings");
    if (std_strings == nullptr || std::strcmp(std_strings, "on") != 0) {
        throw DbError("cannot pass a bytea parameter: standard_conforming_strings is not on");
    }
    std::size_t n = 0;
    return take_escaped(
        PQescapeByteaConn(conn_, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), &n));
}

int PgConnection::backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_) : 0; }

}  // namespace tablepub
