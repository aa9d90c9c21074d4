#include "common/change_json.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <limits>

#include "tablepub.pb.h"

namespace tablepub {

namespace {

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

}  // namespace

std::string base64_encode(std::string_view in) {
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

std::string json_line(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string hex_encode(std::string_view in) {
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
        case v1::Value::kBinary: return bytes == BytesFormat::base64 ? base64_encode(v.binary()) : hex_encode(v.binary());
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
            return {{"raw_text", bytes == BytesFormat::base64 ? base64_encode(v.raw_text()) : hex_encode(v.raw_text())}};
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

}  // namespace tablepub
