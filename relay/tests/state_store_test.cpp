#include <gtest/gtest.h>

#include "relay/state_store.hpp"

namespace tablepub {
namespace {

TEST(StateStore, ArrayLiteralQuotesEverything) {
    EXPECT_EQ(pg_array_literal({}), "{}");
    EXPECT_EQ(pg_array_literal({"1", "2"}), R"({"1","2"})");
    EXPECT_EQ(pg_array_literal({"a\"b", "c\\d", "", "NULL", "x,y"}), R"({"a\"b","c\\d","","NULL","x,y"})");
}

}  // namespace
}  // namespace tablepub
