// The fast JSON writer (tail_format.cpp) against the nlohmann::json
// formatter tablepub-tail used before issue 15, kept here verbatim as the
// reference: for random messages (every value kind, duplicate column
// names, hostile text) both must print the same bytes, and every line must
// parse as JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "tablepub.pb.h"
#include "tail/tail_format.hpp"

namespace tablepub {
namespace {
namespace reference {

nlohmann::json value_to_json(const v1::Value& v, BytesFormat bytes);

std::string format_date(std::int64_t days) {
    const std::chrono::sys_days d{std::chrono::days(days)};
    const std::chrono::year_month_day ymd{d};
    const int y = static_cast<int>(ymd.year());
    char buf[32];
    std::snprintf(buf, sizeof buf, (y >= 0 && y <= 9999) ? "%04d-%02u-%02u" : "%+05d-%02u-%02u", y,
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return buf;
}

std::string format_timestamp(std::int64_t micros, bool utc) {
    if (micros == std::numeric_limits<std::int64_t>::max()) return "infinity";
    if (micros == std::numeric_limits<std::int64_t>::min()) return "-infinity";
    constexpr std::int64_t day = 86'400'000'000;
    std::int64_t days = micros / day;
    std::int64_t rest = micros % day;
    if (rest < 0) {
        rest += day;
        --days;
    }
    char buf[48];
    std::snprintf(buf, sizeof buf, "T%02lld:%02lld:%02lld.%06lld%s", static_cast<long long>(rest / 3'600'000'000),
                  static_cast<long long>(rest / 60'000'000 % 60), static_cast<long long>(rest / 1'000'000 % 60),
                  static_cast<long long>(rest % 1'000'000), utc ? "Z" : "");
    return format_date(days) + buf;
}

std::string format_uuid(std::string_view b) {
    static const char* const digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        const auto c = static_cast<unsigned char>(b[i]);
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

nlohmann::json columns_to_json(const google::protobuf::RepeatedPtrField<v1::Column>& cols, BytesFormat bytes) {
    auto obj = nlohmann::json::object();
    for (const auto& c : cols) obj[c.name()] = value_to_json(c.value(), bytes);
    return obj;
}

const char* op_name(v1::Op op) {
    switch (op) {
        case v1::INSERT: return "insert";
        case v1::UPDATE: return "update";
        case v1::DELETE: return "delete";
        case v1::TRUNCATE: return "truncate";
        case v1::SCHEMA: return "schema";
        case v1::UNPUBLISH: return "unpublish";
        case v1::RESYNC: return "resync";
        default: return "unspecified";
    }
}

// Deepest nesting of arrays and objects in JSON text (strings skipped).
std::size_t json_depth(std::string_view text) {
    std::size_t depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

std::string old_base64_encode(std::string_view in) {
    static const char* const tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
        out += tbl[(n >> 18) & 63];
        out += tbl[(n >> 12) & 63];
        out += tbl[(n >> 6) & 63];
        out += tbl[n & 63];
    }
    if (const auto left = in.size() - i; left > 0) {
        auto n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
        if (left == 2) n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
        out += tbl[(n >> 18) & 63];
        out += tbl[(n >> 12) & 63];
        out += left == 2 ? tbl[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string old_json_line(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string old_hex_encode(std::string_view in) {
    static const char* const digits = "0123456789abcdef";
    std::string hex = "\\x";
    hex.reserve(2 + in.size() * 2);
    for (const char c : in) {
        hex += digits[static_cast<unsigned char>(c) >> 4];
        hex += digits[static_cast<unsigned char>(c) & 15];
    }
    return hex;
}

nlohmann::json value_to_json(const v1::Value& v, BytesFormat bytes) {
    switch (v.kind_case()) {
        case v1::Value::kNull:
        case v1::Value::KIND_NOT_SET: return nullptr;
        case v1::Value::kBoolean: return v.boolean();
        case v1::Value::kInteger: return v.integer();
        case v1::Value::kReal: {
            const double d = v.real();
            if (std::isnan(d)) return "NaN";
            if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
            return d;
        }
        case v1::Value::kText: return v.text();
        case v1::Value::kBinary:
            return bytes == BytesFormat::base64 ? old_base64_encode(v.binary()) : old_hex_encode(v.binary());
        case v1::Value::kNumeric: return v.numeric();
        case v1::Value::kTimestamp: return format_timestamp(v.timestamp(), true);
        case v1::Value::kLocalTimestamp: return format_timestamp(v.local_timestamp(), false);
        case v1::Value::kDate:
            if (v.date() == std::numeric_limits<std::int32_t>::max()) return "infinity";
            if (v.date() == std::numeric_limits<std::int32_t>::min()) return "-infinity";
            return format_date(v.date());
        case v1::Value::kInterval:
            return {{"months", v.interval().months()},
                    {"days", v.interval().days()},
                    {"microseconds", v.interval().microseconds()}};
        case v1::Value::kUuid: return format_uuid(v.uuid());
        case v1::Value::kJson: {
            // nlohmann::json copies and prints recursively: a document nested
            // deeper than this (PostgreSQL accepts thousands of levels) would
            // overflow the stack, so it prints as its text.
            if (json_depth(v.json()) > max_json_depth) return v.json();
            auto parsed = nlohmann::json::parse(v.json(), nullptr, false);
            return parsed.is_discarded() ? nlohmann::json(v.json()) : parsed;
        }
        case v1::Value::kOther: return v.other();
        case v1::Value::kRawText:
            // Not UTF-8, so not a JSON string: an object that cannot be
            // mistaken for text, the bytes encoded like bytea.
            return {{"raw_text",
                     bytes == BytesFormat::base64 ? old_base64_encode(v.raw_text()) : old_hex_encode(v.raw_text())}};
    }
    return nullptr;
}

nlohmann::json message_to_json(std::string_view topic, const v1::Message& msg, BytesFormat bytes) {
    nlohmann::json j;
    j["table"] = std::string(topic);
    if (msg.has_heartbeat()) {
        j["op"] = "heartbeat";
        j["seq"] = msg.seq();
        j["schema_seq"] = msg.schema_seq();
        j["interval_ms"] = msg.heartbeat().interval_ms();
        if (msg.heartbeat().unpublished()) j["unpublished"] = true;
        if (!msg.heartbeat().moved_to_table().empty())
            j["moved_to"] = msg.heartbeat().moved_to_schema() + "." + msg.heartbeat().moved_to_table();
        return j;
    }
    const auto& c = msg.change();
    j["op"] = op_name(c.op());
    j["seq"] = msg.seq();
    j["txid"] = msg.txid();
    j["tx_last"] = msg.tx_last();
    j["schema_seq"] = msg.schema_seq();
    if (c.op() == v1::SCHEMA) {
        auto cols = nlohmann::json::array();
        for (const auto& col : c.schema().columns()) {
            cols.push_back({{"name", col.name()},
                            {"type", col.type()},
                            {"type_oid", col.type_oid()},
                            {"not_null", col.not_null()},
                            {"key_position", col.key_position()}});
        }
        j["schema"] = {{"schema_name", c.schema().schema_name()},
                       {"table_name", c.schema().table_name()},
                       {"full_row", c.schema().full_row()},
                       {"columns", cols}};
        return j;
    }
    if (c.op() == v1::RESYNC) {
        j["reason"] = c.reason();
        return j;
    }
    if (c.op() == v1::TRUNCATE || c.op() == v1::UNPUBLISH) return j;
    j["key"] = columns_to_json(c.key(), bytes);
    if (c.old_key_size() > 0) j["old_key"] = columns_to_json(c.old_key(), bytes);
    j["values"] = columns_to_json(c.values(), bytes);
    return j;
}

}  // namespace reference

class Random {
public:
    explicit Random(std::uint32_t seed) : gen_(seed) {}
    std::uint64_t below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(gen_); }
    std::int64_t any64() { return static_cast<std::int64_t>(gen_()); }

    // Text that is mostly UTF-8: ASCII, escapes, controls, 2-4 byte
    // sequences; sometimes a byte that breaks it.
    std::string text(bool valid) {
        static const char* const pieces[] = {"a",
                                             "Z",
                                             " ",
                                             "\"",
                                             "\\",
                                             "/",
                                             "\n",
                                             "\r",
                                             "\t",
                                             "\b",
                                             "\f",
                                             "\x01",
                                             "\x1f",
                                             "\x7f",
                                             "\xc3\xa9",
                                             "\xe2\x82\xac",
                                             "\xf0\x9f\x98\x80",
                                             "\xe2\x80\xa8",
                                             "\xef\xbf\xbf",
                                             "{",
                                             "]"};
        static const char* const broken[] = {"\xff",     "\xc0\x80", "\xed\xa0\x80",     "\xf5\x80\x80\x80",
                                             "\xe2\x82", "\x80",     "\xf4\x90\x80\x80", "\xe0\x80\xaf",
                                             "\xc3"};
        std::string s;
        const auto n = below(12);
        for (std::uint64_t i = 0; i < n; ++i) s += pieces[below(std::size(pieces))];
        if (n > 0 && below(32) == 0) s += std::string(1, '\0');
        if (!valid) s.insert(below(s.size() + 1), broken[below(std::size(broken))]);
        return s;
    }

    std::string bytes() {
        std::string s(below(20), '\0');
        for (auto& c : s) c = static_cast<char>(below(256));
        return s;
    }

    void value(v1::Value& v) {
        switch (below(17)) {
            case 0: v.set_null(v1::NULL_VALUE); break;
            case 1: v.set_boolean(below(2) == 1); break;
            case 2: v.set_integer(below(2) ? any64() : static_cast<std::int64_t>(below(1000)) - 500); break;
            case 3: {
                static const double specials[] = {0.0,
                                                  -0.0,
                                                  1.5,
                                                  1e300,
                                                  -1e-300,
                                                  0.1,
                                                  100.0,
                                                  1e15,
                                                  1e16,
                                                  123456789.125,
                                                  std::numeric_limits<double>::quiet_NaN(),
                                                  std::numeric_limits<double>::infinity(),
                                                  -std::numeric_limits<double>::infinity(),
                                                  std::numeric_limits<double>::denorm_min()};
                v.set_real(below(2) ? specials[below(std::size(specials))]
                                    : std::ldexp(static_cast<double>(any64()), static_cast<int>(below(200)) - 100));
                break;
            }
            case 4: v.set_text(text(true)); break;
            case 5: v.set_binary(bytes()); break;
            case 6: v.set_numeric(below(2) ? "-12.3400" : "NaN"); break;
            // Within std::chrono::year's range (the reference's limit).
            case 7:
                v.set_timestamp(static_cast<std::int64_t>(below(500'000'000'000'000'000)) - 250'000'000'000'000'000);
                break;
            case 8:
                v.set_local_timestamp(below(4) == 0 ? std::numeric_limits<std::int64_t>::min() : any64() / 40);
                break;
            case 9: v.set_date(static_cast<std::int32_t>(below(6'000'000)) - 3'000'000); break;
            case 10: {
                auto* i = v.mutable_interval();
                i->set_months(static_cast<std::int32_t>(any64()));
                i->set_days(-3);
                i->set_microseconds(any64());
                break;
            }
            case 11: v.set_uuid(std::string(16, static_cast<char>(below(256)))); break;
            case 12: {
                static const char* const docs[] = {R"({"b": 1, "a": [true, null, "x\u0001"]})",
                                                   "not json",
                                                   "[1, 2",
                                                   "\"\\u00e9\"",
                                                   "{\"a\":1,\"a\":2}",
                                                   "1e400",
                                                   "-0",
                                                   "[[[]]]"};
                v.set_json(docs[below(std::size(docs))]);
                break;
            }
            case 13: v.set_other(text(true)); break;
            case 14: v.set_raw_text(bytes()); break;
            case 15: v.set_text(text(false)); break;  // not UTF-8 (only a local Message can hold that)
            default: break;                           // no kind set
        }
    }

    void columns(google::protobuf::RepeatedPtrField<v1::Column>* cols) {
        static const char* const names[] = {"id", "a", "b", "Zeta", "zeta", "\xc3\xa9t\xc3\xa9", "a b", "\"q\"", ""};
        const auto n = below(7);
        for (std::uint64_t i = 0; i < n; ++i) {
            auto* c = cols->Add();
            c->set_name(below(8) == 0 ? text(true) : names[below(std::size(names))]);
            value(*c->mutable_value());
        }
    }

    v1::Message message() {
        v1::Message m;
        m.set_seq(below(2) ? static_cast<std::uint64_t>(any64()) : below(100));
        m.set_txid(static_cast<std::uint64_t>(any64()));
        m.set_tx_last(below(2) == 1);
        m.set_schema_seq(below(50));
        if (below(6) == 0) {
            auto* hb = m.mutable_heartbeat();
            hb->set_interval_ms(below(10'000));
            hb->set_unpublished(below(3) == 0);
            if (below(3) == 0) {
                hb->set_moved_to_schema(text(true));
                hb->set_moved_to_table(text(true) + "t");
            }
            return m;
        }
        auto* c = m.mutable_change();
        c->set_op(static_cast<v1::Op>(below(9)));
        if (c->op() == v1::SCHEMA) {
            auto* s = c->mutable_schema();
            s->set_schema_name(text(true));
            s->set_table_name(text(true));
            s->set_full_row(below(2) == 1);
            for (std::uint64_t i = below(4); i > 0; --i) {
                auto* col = s->add_columns();
                col->set_name(text(true));
                col->set_type("numeric(20,4)");
                col->set_type_oid(static_cast<std::uint32_t>(below(1u << 31)));
                col->set_not_null(below(2) == 1);
                col->set_key_position(static_cast<std::uint32_t>(below(3)));
            }
        }
        if (c->op() == v1::RESYNC || below(10) == 0) c->set_reason(text(below(8) != 0));
        columns(c->mutable_key());
        if (below(3) == 0) columns(c->mutable_old_key());
        columns(c->mutable_values());
        return m;
    }

private:
    std::mt19937 gen_;
};

TEST(TailFormatReference, RandomMessagesPrintAsBeforeAndParse) {
    Random r(15);
    for (int i = 0; i < 20'000; ++i) {
        const auto m = r.message();
        const std::string topic = r.below(20) == 0 ? r.text(false) : "public.t";
        const auto bytes = r.below(2) ? BytesFormat::base64 : BytesFormat::hex;
        const auto line = message_json(topic, m, bytes);
        ASSERT_EQ(line, reference::old_json_line(reference::message_to_json(topic, m, bytes))) << m.DebugString();
        ASSERT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
        ASSERT_EQ(line.find('\n'), std::string::npos);
    }
}

TEST(TailFormatReference, StringsEscapeAsNlohmannDoes) {
    Random r(16);
    for (int i = 0; i < 50'000; ++i) {
        const auto s = r.below(4) == 0 ? r.bytes() : r.text(r.below(3) != 0);
        std::string out;
        append_json_string(out, s);
        ASSERT_EQ(out, nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    // Every single byte and every pair of bytes.
    for (int a = 0; a < 256; ++a) {
        for (int b = -1; b < 256; ++b) {
            std::string s(1, static_cast<char>(a));
            if (b >= 0) s += static_cast<char>(b);
            std::string out;
            append_json_string(out, s);
            ASSERT_EQ(out, nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                << a << " " << b;
        }
    }
}

}  // namespace
}  // namespace tablepub
