// The drain's batch query (batch_read_query, in both its plans: the sort
// layout tuned for large batches, and per transaction) against the replay's
// (batch_query): the same rows in the same order, on a throwaway cluster.

#include <gtest/gtest.h>

#include <string>

#include "common/outbox_pack.hpp"
#include "harness.hpp"
#include "relay/batch_reader.hpp"

namespace tablepub::test {
namespace {

class BatchQueryIT : public ClusterTest {
protected:
    BatchQueryIT() : ClusterTest("bq") {}

    std::string snapshot() { return db_.exec("SELECT pg_current_snapshot()::text").text(0, 0); }
};

TEST_F(BatchQueryIT, DrainQueryGivesTheReplayQueryRowsInTheSameOrder) {
    db_.exec("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE u (id int PRIMARY KEY, v text)");
    db_.exec("SELECT tablepub.publish('t'); SELECT tablepub.publish('u')");
    const std::string prev = snapshot();
    // Transaction a starts first and commits last; b commits in between:
    // b's rows come first, each transaction whole, changes larger than the
    // inline limit among them.
    PgConnection a(conninfo_), b(conninfo_);
    a.exec("BEGIN; INSERT INTO t VALUES (1, 'a1'); INSERT INTO u VALUES (1, 'a1')");
    b.exec("BEGIN; INSERT INTO u VALUES (2, 'b1'); INSERT INTO t VALUES (3, repeat('x', 5000))");
    a.exec("UPDATE t SET v = 'a2' WHERE id = 1");
    b.exec("INSERT INTO t VALUES (4, NULL); COMMIT");
    a.exec("INSERT INTO t VALUES (5, repeat('y', 3000)); DELETE FROM u WHERE id = 1; COMMIT");
    db_.exec("INSERT INTO t SELECT g, 'bulk ' || g FROM generate_series(10, 500) g");
    db_.exec("UPDATE t SET v = v || '!' WHERE id >= 10");
    const std::string snap = snapshot();

    constexpr std::int64_t limit = 1024;
    const auto want = db_.exec_params(batch_query("$1", "$2"), {prev, snap}, true);
    // Counted in changes: the bulk statements' rows are packed (extension 0.4).
    std::size_t changes = 0;
    for (int i = 0; i < want.rows(); ++i) changes += OutboxChanges(want.value(i, 2)).size();
    ASSERT_EQ(changes, 5u + 3u + 491u * 2u);
    for (const auto plan : {BatchPlan::sort_whole, BatchPlan::per_transaction}) {
        SCOPED_TRACE(plan == BatchPlan::sort_whole ? "sort_whole" : "per_transaction");
        const auto got = db_.exec_params(batch_read_query("$1", "$2", limit, plan), {prev, snap}, true);
        ASSERT_EQ(got.rows(), want.rows());
        ASSERT_EQ(got.columns(), 4);
        int large = 0;
        for (int i = 0; i < want.rows(); ++i) {
            EXPECT_EQ(got.value(i, 0), want.value(i, 0)) << "row " << i;
            EXPECT_EQ(got.value(i, 1), want.value(i, 1)) << "row " << i;
            ASSERT_FALSE(got.is_null(i, 3)) << "row " << i;
            if (got.is_null(i, 2)) {
                // "<size> <gen> <ctid>" of a change over the limit
                ++large;
                const auto size = want.value(i, 2).size();
                EXPECT_GT(size, static_cast<std::size_t>(limit)) << "row " << i;
                EXPECT_EQ(std::string(got.value(i, 3)).substr(0, std::to_string(size).size() + 1),
                          std::to_string(size) + " ")
                    << "row " << i;
            } else {
                EXPECT_EQ(got.value(i, 2), want.value(i, 2)) << "row " << i;
                EXPECT_EQ(got.value(i, 3), "") << "row " << i;
            }
        }
        EXPECT_EQ(large, 2);
    }
}

}  // namespace
}  // namespace tablepub::test
