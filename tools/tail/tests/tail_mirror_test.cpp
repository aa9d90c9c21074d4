// tablepub-tail --mirror: the dump format (no database, no sockets).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "tablepub.pb.h"
#include "tablepub/mirror.hpp"
#include "tablepub/subscriber.hpp"
#include "tablepub/table_sync.hpp"
#include "tail/tail_follow.hpp"
#include "tail/tail_mirror.hpp"

namespace tablepub {
namespace {

void add_int(google::protobuf::RepeatedPtrField<v1::Column>* cols, const std::string& name, std::int64_t v) {
    auto* c = cols->Add();
    c->set_name(name);
    c->mutable_value()->set_integer(v);
}

void add_text(google::protobuf::RepeatedPtrField<v1::Column>* cols, const std::string& name, const std::string& v) {
    auto* c = cols->Add();
    c->set_name(name);
    c->mutable_value()->set_text(v);
}

void add_null(google::protobuf::RepeatedPtrField<v1::Column>* cols, const std::string& name) {
    auto* c = cols->Add();
    c->set_name(name);
    c->mutable_value()->set_null(v1::NULL_VALUE);
}

v1::ColumnSchema* add_col(v1::TableSchema& s, const std::string& name, std::uint32_t key_position) {
    auto* c = s.add_columns();
    c->set_name(name);
    c->set_key_position(key_position);
    return c;
}

// A table (id int8 primary key, zeta text, alpha text) in table order.
v1::TableSchema simple_schema() {
    v1::TableSchema s;
    s.set_schema_name("public");
    s.set_table_name("t");
    add_col(s, "id", 1);
    add_col(s, "zeta", 0);
    add_col(s, "alpha", 0);
    return s;
}

v1::Change insert(std::int64_t id, const std::string& zeta) {
    v1::Change ch;
    ch.set_op(v1::INSERT);
    add_int(ch.mutable_key(), "id", id);
    add_int(ch.mutable_values(), "id", id);
    add_text(ch.mutable_values(), "zeta", zeta);
    add_null(ch.mutable_values(), "alpha");
    return ch;
}

TEST(TailMirror, SortsByKeyValueNotText) {
    Mirror m;
    for (std::int64_t id : {10, -3, 2, 100}) ASSERT_EQ(m.apply(insert(id, "z")), Mirror::Apply::ok);
    const auto lines = mirror_lines("public.t", m, simple_schema(), BytesFormat::base64);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], R"({"row":{"alpha":null,"id":-3,"zeta":"z"},"table":"public.t"})");
    EXPECT_EQ(lines[1], R"({"row":{"alpha":null,"id":2,"zeta":"z"},"table":"public.t"})");
    EXPECT_EQ(lines[2], R"({"row":{"alpha":null,"id":10,"zeta":"z"},"table":"public.t"})");
    EXPECT_EQ(lines[3], R"({"row":{"alpha":null,"id":100,"zeta":"z"},"table":"public.t"})");
}

TEST(TailMirror, CompositeKeyInKeyPositionOrder) {
    // Key (b, a): b is the first key column although it comes second.
    v1::TableSchema s;
    add_col(s, "a", 2);
    add_col(s, "b", 1);
    Mirror m;
    auto row = [&](std::int64_t a, const std::string& b) {
        v1::Change ch;
        ch.set_op(v1::INSERT);
        add_int(ch.mutable_key(), "a", a);
        add_text(ch.mutable_key(), "b", b);
        add_int(ch.mutable_values(), "a", a);
        add_text(ch.mutable_values(), "b", b);
        ASSERT_EQ(m.apply(ch), Mirror::Apply::ok);
    };
    row(1, "y");
    row(2, "x");
    row(1, "x");
    const auto lines = mirror_lines("s.t", m, s, BytesFormat::base64);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], R"({"row":{"a":1,"b":"x"},"table":"s.t"})");
    EXPECT_EQ(lines[1], R"({"row":{"a":2,"b":"x"},"table":"s.t"})");
    EXPECT_EQ(lines[2], R"({"row":{"a":1,"b":"y"},"table":"s.t"})");
}

TEST(TailMirror, TypedValuesAsTheTailPrintsThem) {
    v1::TableSchema s;
    add_col(s, "id", 1);
    v1::Change ch;
    ch.set_op(v1::INSERT);
    add_int(ch.mutable_key(), "id", 1);
    auto* v = ch.mutable_values();
    add_int(v, "id", 1);
    auto set = [&](const std::string& name) -> v1::Value* {
        auto* c = v->Add();
        c->set_name(name);
        return c->mutable_value();
    };
    set("b")->set_binary(std::string("\x00\xff", 2));
    set("n")->set_numeric("-12.3400");
    set("ts")->set_timestamp(1'500'000);  // 1.5 s after the epoch
    set("d")->set_date(1);
    set("j")->set_json(R"({"z": 1, "a": [true, null]})");
    set("f")->set_real(0.1);
    set("o")->set_other("{1,2}");
    Mirror m;
    ASSERT_EQ(m.apply(ch), Mirror::Apply::ok);
    const auto lines = mirror_lines("public.t", m, s, BytesFormat::base64);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0],
              R"({"row":{"b":"AP8=","d":"1970-01-02","f":0.1,"id":1,"j":{"a":[true,null],"z":1},"n":"-12.3400",)"
              R"("o":"{1,2}","ts":"1970-01-01T00:00:01.500000Z"},"table":"public.t"})");
    EXPECT_EQ(mirror_lines("public.t", m, s, BytesFormat::hex)[0].find(R"("b":"\\x00ff")") != std::string::npos, true);
}

TEST(TailMirror, UpdatesAndDeletesShowInTheDump) {
    Mirror m;
    ASSERT_EQ(m.apply(insert(1, "a")), Mirror::Apply::ok);
    ASSERT_EQ(m.apply(insert(2, "b")), Mirror::Apply::ok);
    v1::Change up;  // key change 1 -> 3, zeta -> "c"
    up.set_op(v1::UPDATE);
    add_int(up.mutable_old_key(), "id", 1);
    add_int(up.mutable_key(), "id", 3);
    add_text(up.mutable_values(), "zeta", "c");
    ASSERT_EQ(m.apply(up), Mirror::Apply::ok);
    v1::Change del;
    del.set_op(v1::DELETE);
    add_int(del.mutable_key(), "id", 2);
    ASSERT_EQ(m.apply(del), Mirror::Apply::ok);
    const auto lines = mirror_lines("public.t", m, simple_schema(), BytesFormat::base64);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], R"({"row":{"alpha":null,"id":3,"zeta":"c"},"table":"public.t"})");
}

TEST(TailMirror, EmptyMirrorAndUnknownSchemaAreDeterministic) {
    Mirror m;
    EXPECT_TRUE(mirror_lines("public.t", m, simple_schema(), BytesFormat::base64).empty());
    for (std::int64_t id : {3, 1, 2}) ASSERT_EQ(m.apply(insert(id, "z")), Mirror::Apply::ok);
    // No schema (no key columns known): sorted by the line itself.
    const auto lines = mirror_lines("public.t", m, v1::TableSchema(), BytesFormat::base64);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_LT(lines[0], lines[1]);
    EXPECT_LT(lines[1], lines[2]);
}

TEST(TailMirror, CompareValues) {
    v1::Value null_v, a, b;
    null_v.set_null(v1::NULL_VALUE);
    a.set_numeric("9.5");
    b.set_numeric("10");
    EXPECT_TRUE(compare_values(a, b) < 0);
    EXPECT_TRUE(compare_values(null_v, a) < 0);
    EXPECT_TRUE(compare_values(v1::Value(), null_v) == 0);
    b.set_numeric("NaN");
    EXPECT_TRUE(compare_values(a, b) < 0);
    a.set_text("b");
    b.set_text("ab");
    EXPECT_TRUE(compare_values(a, b) > 0);
    a.set_real(std::nan(""));
    b.set_real(1e300);
    EXPECT_TRUE(compare_values(a, b) > 0);
}

class TempDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/tablepub-tail-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

using TailMirrorFile = TempDir;

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST_F(TailMirrorFile, ReplacesTheFileAndLeavesNoTemporary) {
    const auto path = (dir_ / "mirror.jsonl").string();
    write_file_atomically(path, "first\n");
    EXPECT_EQ(slurp(path), "first\n");
    write_file_atomically(path, "second\n");
    EXPECT_EQ(slurp(path), "second\n");
    write_file_atomically(path, "");
    EXPECT_EQ(slurp(path), "");
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(TailMirrorFile, MissingDirectoryThrowsNamingTheFile) {
    const auto path = (dir_ / "no" / "such" / "mirror.jsonl").string();
    try {
        write_file_atomically(path, "x");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find(path + ".tmp"), std::string::npos) << e.what();
    }
}

TEST(TailStatus, Shape) {
    TableStatus t;
    t.table = "public.t";
    t.state = SyncState::live;
    t.last_seq = 7;
    t.latest_seq = 9;
    t.lag = 2;
    t.rows = 3;
    t.stats.resyncs = 1;
    const auto j = tail_status_json({t}, 4);
    EXPECT_EQ(j["dumps"], 4);
    ASSERT_EQ(j["tables"].size(), 1u);
    EXPECT_EQ(j["tables"][0]["state"], "live");
    EXPECT_EQ(j["tables"][0]["last_seq"], 7);
    EXPECT_EQ(j["tables"][0]["lag"], 2);
    EXPECT_EQ(j["tables"][0]["rows"], 3);
    EXPECT_EQ(j["tables"][0]["stats"]["resyncs"], 1);
    EXPECT_EQ(j["tables"][0]["stats"]["anomalies"], 0);
}

}  // namespace
}  // namespace tablepub
