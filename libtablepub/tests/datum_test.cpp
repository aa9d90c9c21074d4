// to_datum: every wire kind reaches the plain Datum with its payload.
#include <gtest/gtest.h>

#include <limits>

#include "tablepub.pb.h"
#include "tablepub/datum.hpp"

namespace tablepub {
namespace {

using K = Datum::Kind;

TEST(Datum, EveryKindKeepsItsPayload) {
    v1::Value v;
    EXPECT_TRUE(to_datum(v).kind == K::other && to_datum(v).bytes.empty());  // kind not set (a newer relay)
    v.set_null(v1::NULL_VALUE);
    EXPECT_TRUE(to_datum(v).is_null());
    v.set_boolean(true);
    EXPECT_TRUE(to_datum(v).kind == K::boolean && to_datum(v).boolean);
    v.set_integer(std::numeric_limits<std::int64_t>::min());
    EXPECT_TRUE(to_datum(v).kind == K::integer && to_datum(v).integer == std::numeric_limits<std::int64_t>::min());
    v.set_real(-2.5);
    EXPECT_TRUE(to_datum(v).kind == K::real && to_datum(v).real == -2.5);
    v.set_text("ünï");
    EXPECT_TRUE(to_datum(v).kind == K::text && to_datum(v).bytes == "ünï");
    v.set_binary(std::string("\0\xff", 2));
    EXPECT_TRUE(to_datum(v).kind == K::binary && to_datum(v).bytes == std::string("\0\xff", 2));
    v.set_numeric("-0.10");
    EXPECT_TRUE(to_datum(v).kind == K::numeric && to_datum(v).bytes == "-0.10");
    v.set_timestamp(1);
    EXPECT_TRUE(to_datum(v).kind == K::timestamp && to_datum(v).integer == 1);
    v.set_local_timestamp(-1);
    EXPECT_TRUE(to_datum(v).kind == K::local_timestamp && to_datum(v).integer == -1);
    v.set_date(std::numeric_limits<std::int32_t>::max());
    EXPECT_TRUE(to_datum(v).kind == K::date && to_datum(v).integer == std::numeric_limits<std::int32_t>::max());
    v.mutable_interval()->set_months(-1);
    v.mutable_interval()->set_days(2);
    v.mutable_interval()->set_microseconds(3);
    const auto iv = to_datum(v);
    EXPECT_TRUE(iv.kind == K::interval && iv.months == -1 && iv.days == 2 && iv.microseconds == 3);
    v.set_uuid(std::string(16, '\x01'));
    EXPECT_TRUE(to_datum(v).kind == K::uuid && to_datum(v).bytes == std::string(16, '\x01'));
    v.set_json("{\"a\": 1}");
    EXPECT_TRUE(to_datum(v).kind == K::json && to_datum(v).bytes == "{\"a\": 1}");
    v.set_other("{1,2}");
    EXPECT_TRUE(to_datum(v).kind == K::other && to_datum(v).bytes == "{1,2}");
    v.set_raw_text("\xe9");
    EXPECT_TRUE(to_datum(v).kind == K::raw_text && to_datum(v).bytes == "\xe9");
}

// The enum is numbered as the oneof's fields, so the two cannot drift apart
// unnoticed.
TEST(Datum, KindsAreNumberedAsTheWireFields) {
    EXPECT_EQ(static_cast<int>(K::null), v1::Value::kNull);
    EXPECT_EQ(static_cast<int>(K::interval), v1::Value::kInterval);
    EXPECT_EQ(static_cast<int>(K::raw_text), v1::Value::kRawText);
}

}  // namespace
}  // namespace tablepub
