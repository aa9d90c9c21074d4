#include <gtest/gtest.h>

#include "sync/request_validation.hpp"

namespace tablepub::sync {
namespace {

Rejection rejected(std::size_t frames, const std::string& body) {
    auto r = parse_request(frames, body);
    EXPECT_TRUE(std::holds_alternative<Rejection>(r));
    return std::holds_alternative<Rejection>(r) ? std::get<Rejection>(r) : Rejection{};
}

v1::Request snapshot_request(std::uint64_t id, const std::string& schema, const std::string& table) {
    v1::Request r;
    r.set_request_id(id);
    r.mutable_snapshot()->set_schema_name(schema);
    r.mutable_snapshot()->set_table_name(table);
    return r;
}

TEST(RequestValidation, WellFormedRequestsPass) {
    auto req = snapshot_request(7, "public", "t");
    auto r = parse_request(1, req.SerializeAsString());
    ASSERT_TRUE(std::holds_alternative<v1::Request>(r));
    EXPECT_EQ(std::get<v1::Request>(r).request_id(), 7u);

    v1::Request replay;
    replay.set_request_id(8);
    replay.mutable_replay()->set_schema_name("s");
    replay.mutable_replay()->set_table_name("t");
    replay.mutable_replay()->set_from_seq(1);
    EXPECT_TRUE(std::holds_alternative<v1::Request>(parse_request(1, replay.SerializeAsString())));

    v1::Request credit;
    credit.set_request_id(8);
    credit.mutable_credit_grant()->set_chunks(4);
    EXPECT_TRUE(std::holds_alternative<v1::Request>(parse_request(1, credit.SerializeAsString())));
}

TEST(RequestValidation, MalformedRequestsRejected) {
    const auto good = snapshot_request(7, "public", "t").SerializeAsString();
    EXPECT_EQ(rejected(2, good).request_id, 0u);
    EXPECT_EQ(rejected(0, "").code, v1::MALFORMED_REQUEST);
    EXPECT_EQ(rejected(1,
                       "\x0a\x05"
                       "ab")
                  .message,
              "the frame is not a tablepub.v1.Request");
    // Invalid UTF-8 in a string field is not a Request either.
    EXPECT_EQ(rejected(1, snapshot_request(7, "p\xff", "t").SerializePartialAsString()).request_id, 0u);
    EXPECT_EQ(rejected(1, snapshot_request(0, "public", "t").SerializeAsString()).message, "request_id must not be 0");
    v1::Request none;
    none.set_request_id(9);
    auto r = rejected(1, none.SerializeAsString());
    EXPECT_EQ(r.request_id, 9u);
    EXPECT_EQ(r.message, "the request has no kind");
    EXPECT_EQ(rejected(1, snapshot_request(3, "", "t").SerializeAsString()).request_id, 3u);
    EXPECT_EQ(rejected(1, snapshot_request(3, "s", "").SerializeAsString()).code, v1::MALFORMED_REQUEST);
    v1::Request replay;
    replay.set_request_id(4);
    replay.mutable_replay()->set_schema_name("s");
    replay.mutable_replay()->set_table_name("t");
    EXPECT_EQ(rejected(1, replay.SerializeAsString()).message, "replay from_seq must be at least 1");
}

}  // namespace
}  // namespace tablepub::sync
