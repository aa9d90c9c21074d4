#include <gtest/gtest.h>

#include <limits>

#include "sync/request_limits.hpp"

using tablepub::add_credit;
using tablepub::request_problem;
namespace v1 = tablepub::v1;

namespace {

v1::Request snapshot(const std::string& schema, const std::string& table) {
    v1::Request r;
    r.set_request_id(1);
    r.mutable_snapshot()->set_schema_name(schema);
    r.mutable_snapshot()->set_table_name(table);
    return r;
}

v1::Request replay(std::uint64_t from, std::uint64_t to) {
    v1::Request r;
    r.set_request_id(1);
    r.mutable_replay()->set_schema_name("public");
    r.mutable_replay()->set_table_name("t");
    r.mutable_replay()->set_from_seq(from);
    r.mutable_replay()->set_to_seq(to);
    return r;
}

}  // namespace

TEST(RequestLimits, WellFormedRequestsPass) {
    EXPECT_EQ(request_problem(snapshot("public", "t")), std::nullopt);
    EXPECT_EQ(request_problem(snapshot(std::string(63, 's'), std::string(63, 't'))), std::nullopt);
    EXPECT_EQ(request_problem(replay(1, 0)), std::nullopt);
    EXPECT_EQ(request_problem(replay(tablepub::MAX_SEQ, tablepub::MAX_SEQ)), std::nullopt);
}

TEST(RequestLimits, NamesAreBoundedLikePostgres) {
    // 64 bytes would be truncated by PostgreSQL to another table's name.
    EXPECT_NE(request_problem(snapshot("public", std::string(64, 't'))), std::nullopt);
    EXPECT_NE(request_problem(snapshot(std::string(64, 's'), "t")), std::nullopt);
    EXPECT_NE(request_problem(snapshot("public", "")), std::nullopt);
    EXPECT_NE(request_problem(snapshot("", "t")), std::nullopt);
    EXPECT_NE(request_problem(snapshot("public", std::string("t\0x", 3))), std::nullopt);
}

TEST(RequestLimits, ProjectionIsBounded) {
    auto r = snapshot("public", "t");
    for (int i = 0; i < tablepub::MAX_COLUMNS; ++i) r.mutable_snapshot()->add_columns("c" + std::to_string(i));
    EXPECT_EQ(request_problem(r), std::nullopt);
    r.mutable_snapshot()->add_columns("one_more");
    EXPECT_NE(request_problem(r), std::nullopt);
    auto long_column = snapshot("public", "t");
    long_column.mutable_snapshot()->add_columns(std::string(64, 'c'));
    EXPECT_NE(request_problem(long_column), std::nullopt);
}

TEST(RequestLimits, ReplayPositionsFitBigint) {
    EXPECT_NE(request_problem(replay(0, 0)), std::nullopt);
    EXPECT_NE(request_problem(replay(tablepub::MAX_SEQ + 1, 0)), std::nullopt);
    EXPECT_NE(request_problem(replay(1, std::numeric_limits<std::uint64_t>::max())), std::nullopt);
}

TEST(RequestLimits, RequestIdZeroIsRefused) {
    auto r = snapshot("public", "t");
    r.set_request_id(0);
    EXPECT_NE(request_problem(r), std::nullopt);
}

TEST(RequestLimits, CreditSaturatesAtTheCap) {
    constexpr auto max = std::numeric_limits<std::uint32_t>::max();
    EXPECT_EQ(add_credit(3, 4, 16), 7u);
    EXPECT_EQ(add_credit(15, 4, 16), 16u);
    // A uint32 sum would wrap to 0 here and stall the stream.
    EXPECT_EQ(add_credit(1, max, 16), 16u);
    EXPECT_EQ(add_credit(max, max, max), max);
}

TEST(RequestLimits, MultiTableSnapshotsAreBoundedAndNameEachTableOnce) {
    auto r = snapshot("nova", "instances");
    auto* more = r.mutable_snapshot()->add_more_tables();
    more->set_schema_name("nova");
    more->set_table_name("instance_metadata");
    EXPECT_EQ(request_problem(r), std::nullopt);

    auto dup = r;
    auto* again = dup.mutable_snapshot()->add_more_tables();
    again->set_schema_name("nova");
    again->set_table_name("instances");
    ASSERT_NE(request_problem(dup), std::nullopt);
    EXPECT_NE(request_problem(dup)->find("twice"), std::string::npos);

    auto unnamed = r;
    unnamed.mutable_snapshot()->add_more_tables()->set_schema_name("nova");
    EXPECT_NE(request_problem(unnamed), std::nullopt);

    auto many = snapshot("s", "t0");
    for (int i = 1; i < tablepub::MAX_SNAPSHOT_TABLES; ++i) {
        auto* t = many.mutable_snapshot()->add_more_tables();
        t->set_schema_name("s");
        t->set_table_name("t" + std::to_string(i));
    }
    EXPECT_EQ(request_problem(many), std::nullopt);
    auto* one_more = many.mutable_snapshot()->add_more_tables();
    one_more->set_schema_name("s");
    one_more->set_table_name("extra");
    EXPECT_NE(request_problem(many), std::nullopt);

    auto wide = r;
    for (int i = 0; i <= tablepub::MAX_COLUMNS; ++i)
        wide.mutable_snapshot()->mutable_more_tables(0)->add_columns("c" + std::to_string(i));
    EXPECT_NE(request_problem(wide), std::nullopt);
}

TEST(RequestLimits, TransactionReplayNamesNoTable) {
    v1::Request r;
    r.set_request_id(1);
    r.mutable_replay()->set_transactions(true);
    r.mutable_replay()->set_from_seq(5);
    EXPECT_EQ(request_problem(r), std::nullopt);
    r.mutable_replay()->set_from_seq(0);
    EXPECT_NE(request_problem(r), std::nullopt);
    r.mutable_replay()->set_from_seq(5);
    r.mutable_replay()->set_table_name("t");
    EXPECT_NE(request_problem(r), std::nullopt);
}
