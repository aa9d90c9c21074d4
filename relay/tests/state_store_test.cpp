#include <gtest/gtest.h>

#include "relay/state_store.hpp"

namespace tablepub {
namespace {

TEST(StateStore, ArrayLiteralQuotesEverything) {
    EXPECT_EQ(pg_array_literal({}), "{}");
    EXPECT_EQ(pg_array_literal({"1", "2"}), R"({"1","2"})");
    EXPECT_EQ(pg_array_literal({"a\"b", "c\\d", "", "NULL", "x,y"}), R"({"a\"b","c\\d","","NULL","x,y"})");
}

TEST(StateStore, ByteaHex) {
    EXPECT_EQ(pg_bytea_hex(""), "\\x");
    EXPECT_EQ(pg_bytea_hex(std::string("\x00\x7f\xff", 3)), "\\x007fff");
    // inside an array literal the backslash is escaped once more
    EXPECT_EQ(pg_array_literal({pg_bytea_hex("A")}), R"({"\\x41"})");
}

}  // namespace
}  // namespace tablepub
