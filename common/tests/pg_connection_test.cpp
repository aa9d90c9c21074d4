#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/pg_connection.hpp"

namespace tablepub {
namespace {

TEST(PgConnection, UnreachableServerIsConnectionLostWithOneLine) {
    try {
        PgConnection c("host=/nonexistent-dir port=1 connect_timeout=2");
        FAIL() << "connected to nothing";
    } catch (const ConnectionLost& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("cannot connect to the database"), std::string::npos) << what;
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        EXPECT_EQ(e.sqlstate(), "08006");
    }
}

TEST(PgConnection, MovedFromAndDefaultConnectionsRefuseWork) {
    PgConnection empty;
    EXPECT_FALSE(empty);
    EXPECT_FALSE(empty.ok());
    EXPECT_EQ(empty.socket(), -1);
    EXPECT_EQ(empty.backend_pid(), 0);
    EXPECT_FALSE(empty.result_ready());
    EXPECT_THROW(empty.exec("SELECT 1"), ConnectionLost);
    EXPECT_THROW(empty.exec_params("SELECT $1", {"1"}), ConnectionLost);
    EXPECT_THROW(empty.send_params("SELECT 1", {}), ConnectionLost);
    EXPECT_THROW((void)empty.wait_result(), ConnectionLost);
    EXPECT_THROW((void)empty.consume_notifications(), ConnectionLost);
    PgConnection moved(std::move(empty));
    EXPECT_FALSE(moved);
    PgConnection assigned;
    assigned = std::move(moved);
    EXPECT_FALSE(assigned);
}

TEST(PgResult, EmptyAndMovedFrom) {
    PgResult r;
    EXPECT_FALSE(r);
    EXPECT_EQ(r.rows(), 0);
    EXPECT_EQ(r.columns(), 0);
    PgResult moved(std::move(r));
    EXPECT_FALSE(moved);
    EXPECT_FALSE(r);  // NOLINT(bugprone-use-after-move): moved-from is empty
}

}  // namespace
}  // namespace tablepub
