#include "common/pg_connection.hpp"

#include <libpq-fe.h>

#include <cstring>

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
    }
    return *this;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::ok() const noexcept { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

void PgConnection::fail(const std::string& what, const std::string& sqlstate, const std::string& context) {
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || is_connection_state(sqlstate)) {
        throw ConnectionLost("database connection lost: " + what, sqlstate, context);
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
}

PgResult PgConnection::wait_result() {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    // Keep the first result (an error wins), then drain to the terminating null.
    PgResult first(PQgetResult(conn_));
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    return check(std::move(first), "");
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
    check(std::move(res), "");
    return PgResult();
}

int PgConnection::socket() const noexcept { return conn_ ? PQsocket(conn_) : -1; }

int PgConnection::consume_notifications() {
    if (conn_ == nullptr) throw ConnectionLost("not connected");
    if (PQconsumeInput(conn_) == 0) fail(first_line(PQerrorMessage(conn_)), "", "");
    int n = 0;
    while (PGnotify* note = PQnotifies(conn_)) {
        PQfreemem(note);
        ++n;
    }
    return n;
}

bool PgConnection::result_ready() const noexcept { return conn_ != nullptr && PQisBusy(conn_) == 0; }

std::string PgConnection::escape_literal(const std::string& s) const {
    char* esc = PQescapeLiteral(conn_, s.data(), s.size());
    if (esc == nullptr) throw DbError(first_line(PQerrorMessage(conn_)));
    std::string out(esc);
    PQfreemem(esc);
    return out;
}

int PgConnection::backend_pid() const noexcept { return conn_ ? PQbackendPID(conn_) : 0; }

}  // namespace tablepub
