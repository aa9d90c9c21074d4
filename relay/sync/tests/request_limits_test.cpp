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
