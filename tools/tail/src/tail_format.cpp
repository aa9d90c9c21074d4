#include "tail/tail_format.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "tablepub.pb.h"

namespace tablepub {

namespace {

template <typename Int>
void append_int(std::string& out, Int v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// v in 0..10^width-1, zero-padded to width digits.
void append_digits(std::string& out, std::uint64_t v, int width) {
    char buf[20];
    for (int i = width - 1; i >= 0; --i) {
        buf[i] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
    out.append(buf, static_cast<std::size_t>(width));
}

void append_bool(std::string& out, bool b) { out += b ? "true" : "false"; }

// Days since 1970-01-01 to the proleptic Gregorian calendar, for every
// int64 day count a timestamp can hold (H. Hinnant's civil_from_days;
// std::chrono::year stops at 32767, PostgreSQL's dates do not).
struct Civil {
    std::int64_t year;
    unsigned month, day;
};

Civil civil_from_days(std::int64_t z) {
    z += 719'468;
    const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    const auto doe = static_cast<unsigned>(z - era * 146'097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned day = doy - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

void append_date(std::string& out, std::int64_t days) {
    const auto c = civil_from_days(days);
    if (c.year >= 0 && c.year <= 9999) {
        append_digits(out, static_cast<std::uint64_t>(c.year), 4);
    } else {
        char buf[32];
        const int n = std::snprintf(buf, sizeof buf, "%+05lld", static_cast<long long>(c.year));
        out.append(buf, static_cast<std::size_t>(n));
    }
    out += '-';
    append_digits(out, c.month, 2);
    out += '-';
    append_digits(out, c.day, 2);
}

void append_timestamp(std::string& out, std::int64_t micros, bool utc) {
    if (micros == std::numeric_limits<std::int64_t>::max()) {
        out += "\"infinity\"";
        return;
    }
    if (micros == std::numeric_limits<std::int64_t>::min()) {
        out += "\"-infinity\"";
        return;
    }
    constexpr std::int64_t day = 86'400'000'000;
    std::int64_t days = micros / day;
    std::int64_t rest = micros % day;
    if (rest < 0) {
        rest += day;
        --days;
    }
    const auto r = static_cast<std::uint64_t>(rest);
    out += '"';
    append_date(out, days);
    out += 'T';
    append_digits(out, r / 3'600'000'000, 2);
    out += ':';
    append_digits(out, r / 60'000'000 % 60, 2);
    out += ':';
    append_digits(out, r / 1'000'000 % 60, 2);
    out += '.';
    append_digits(out, r % 1'000'000, 6);
    if (utc) out += 'Z';
    out += '"';
}

void append_uuid(std::string& out, std::string_view b) {
    static constexpr char digits[] = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        const auto c = static_cast<unsigned char>(b[i]);
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    out += '"';
}

void append_base64(std::string& out, std::string_view in) {
    static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::size_t at = out.size();
    out.resize(at + (in.size() + 2) / 3 * 4);
    char* p = out.data() + at;
    const auto* s = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned n = (unsigned{s[i]} << 16) | (unsigned{s[i + 1]} << 8) | s[i + 2];
        *p++ = tbl[(n >> 18) & 63];
        *p++ = tbl[(n >> 12) & 63];
        *p++ = tbl[(n >> 6) & 63];
        *p++ = tbl[n & 63];
    }
    if (const auto left = in.size() - i; left > 0) {
        unsigned n = unsigned{s[i]} << 16;
        if (left == 2) n |= unsigned{s[i + 1]} << 8;
        *p++ = tbl[(n >> 18) & 63];
        *p++ = tbl[(n >> 12) & 63];
        *p++ = left == 2 ? tbl[(n >> 6) & 63] : '=';
        *p++ = '=';
    }
}

void append_hex(std::string& out, std::string_view in) {
    static constexpr char digits[] = "0123456789abcdef";
    const std::size_t at = out.size();
    out.resize(at + 2 + in.size() * 2);
    char* p = out.data() + at;
    *p++ = '\\';
    *p++ = 'x';
    for (const char c : in) {
        *p++ = digits[static_cast<unsigned char>(c) >> 4];
        *p++ = digits[static_cast<unsigned char>(c) & 15];
    }
}

// bytea-style bytes as a JSON string (base64 and hex need no escaping,
// except hex's backslash).
void append_bytes(std::string& out, std::string_view in, BytesFormat bytes) {
    out += '"';
    if (bytes == BytesFormat::base64) {
        append_base64(out, in);
    } else {
        out += '\\';  // the JSON escape of hex's leading backslash
        append_hex(out, in);
    }
    out += '"';
}

// 0: copied as is; 1: escaped; 2: first byte of a multi-byte sequence (or
// not UTF-8 at all).
constexpr std::array<std::uint8_t, 256> byte_classes() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c)
        t[static_cast<std::size_t>(c)] = c < 0x20 || c == '"' || c == '\\' ? 1 : c >= 0x80 ? 2 : 0;
    return t;
}
constexpr auto byte_class = byte_classes();

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at s[i] (Unicode table 3-7), 0
// if there is none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const std::size_t left = s.size() - i;
    const unsigned char c = b(0);
    if (c >= 0xC2 && c <= 0xDF) return left >= 2 && continuation(b(1)) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || !continuation(b(1)) || !continuation(b(2))) return 0;
        if (c == 0xE0 && b(1) < 0xA0) return 0;  // overlong
        if (c == 0xED && b(1) > 0x9F) return 0;  // surrogates
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || !continuation(b(1)) || !continuation(b(2)) || !continuation(b(3))) return 0;
        if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
        if (c == 0xF4 && b(1) > 0x8F) return 0;  // above U+10FFFF
        return 4;
    }
    return 0;
}

// Escapes s into out as nlohmann::json does (ensure_ascii off); false,
// with out unchanged, when s is not UTF-8.
bool append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    const std::size_t start = out.size();
    std::size_t run = 0;  // start of the bytes not yet copied
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const auto cls = byte_class[c];
        if (cls == 0) {
            ++i;
            continue;
        }
        if (cls == 2) {
            const auto n = utf8_sequence(s, i);
            if (n == 0) {
                out.resize(start);
                return false;
            }
            i += n;
            continue;
        }
        out.append(s.data() + run, i - run);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: {
                const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                out.append(u, 6);
            }
        }
        run = ++i;
    }
    out.append(s.data() + run, s.size() - run);
    return true;
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

void append_json_text(std::string& out, const std::string& text) {
    // nlohmann::json copies and prints recursively: a document nested
    // deeper than this (PostgreSQL accepts thousands of levels) would
    // overflow the stack, so it prints as its text.
    if (json_depth(text) > max_json_depth) {
        append_json_string(out, text);
        return;
    }
    const auto parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_discarded())
        append_json_string(out, text);
    else
        out += json_line(parsed);
}

void append_key(std::string& out, std::string_view quoted_key) {
    out += quoted_key;
    out += ':';
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    if (append_escaped(out, s)) {
        out += '"';
        return;
    }
    out.pop_back();
    // Rare: let nlohmann::json replace what is not UTF-8, as it always did.
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string base64_encode(std::string_view in) {
    std::string out;
    append_base64(out, in);
    return out;
}

std::string hex_encode(std::string_view in) {
    std::string out;
    append_hex(out, in);
    return out;
}

std::string json_line(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_value_json(std::string& out, const v1::Value& v, BytesFormat bytes) {
    switch (v.kind_case()) {
        case v1::Value::kNull:
        case v1::Value::KIND_NOT_SET: out += "null"; return;
        case v1::Value::kBoolean: append_bool(out, v.boolean()); return;
        case v1::Value::kInteger: append_int(out, v.integer()); return;
        case v1::Value::kReal: {
            const double d = v.real();
            if (std::isnan(d))
                out += "\"NaN\"";
            else if (std::isinf(d))
                out += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
            else
                out += nlohmann::json(d).dump();  // its shortest round-trip form, as before
            return;
        }
        case v1::Value::kText: append_json_string(out, v.text()); return;
        case v1::Value::kBinary: append_bytes(out, v.binary(), bytes); return;
        case v1::Value::kNumeric: append_json_string(out, v.numeric()); return;
        case v1::Value::kTimestamp: append_timestamp(out, v.timestamp(), true); return;
        case v1::Value::kLocalTimestamp: append_timestamp(out, v.local_timestamp(), false); return;
        case v1::Value::kDate:
            if (v.date() == std::numeric_limits<std::int32_t>::max())
                out += "\"infinity\"";
            else if (v.date() == std::numeric_limits<std::int32_t>::min())
                out += "\"-infinity\"";
            else {
                out += '"';
                append_date(out, v.date());
                out += '"';
            }
            return;
        case v1::Value::kInterval:
            out += "{\"days\":";
            append_int(out, v.interval().days());
            out += ",\"microseconds\":";
            append_int(out, v.interval().microseconds());
            out += ",\"months\":";
            append_int(out, v.interval().months());
            out += '}';
            return;
        case v1::Value::kUuid: append_uuid(out, v.uuid()); return;
        case v1::Value::kJson: append_json_text(out, v.json()); return;
        case v1::Value::kOther: append_json_string(out, v.other()); return;
        case v1::Value::kRawText:
            // Not UTF-8, so not a JSON string: an object that cannot be
            // mistaken for text, the bytes encoded like bytea.
            out += "{\"raw_text\":";
            append_bytes(out, v.raw_text(), bytes);
            out += '}';
            return;
    }
    out += "null";  // a kind this build does not know (docs/protocol.md section 11)
}

void append_columns_json(std::string& out, const google::protobuf::RepeatedPtrField<v1::Column>& cols,
                         BytesFormat bytes) {
    // Members sorted by name; a stable sort keeps equal names in order, so
    // the last of them is the one printed (as a JSON object assignment).
    constexpr int inline_columns = 64;
    const v1::Column* fixed[inline_columns];
    std::vector<const v1::Column*> more;
    const v1::Column** sorted = fixed;
    const int n = cols.size();
    if (n > inline_columns) {
        more.resize(static_cast<std::size_t>(n));
        sorted = more.data();
    }
    for (int i = 0; i < n; ++i) {
        // Insertion sort: rows have few columns.
        const v1::Column* c = &cols.Get(i);
        int j = i;
        while (j > 0 && c->name() < sorted[j - 1]->name()) {
            sorted[j] = sorted[j - 1];
            --j;
        }
        sorted[j] = c;
    }
    out += '{';
    bool first = true;
    for (int i = 0; i < n; ++i) {
        if (i + 1 < n && sorted[i + 1]->name() == sorted[i]->name()) continue;
        if (!first) out += ',';
        first = false;
        append_json_string(out, sorted[i]->name());
        out += ':';
        append_value_json(out, sorted[i]->value(), bytes);
    }
    out += '}';
}

void append_message_json(std::string& out, std::string_view topic, const v1::Message& msg, BytesFormat bytes) {
    // Members in bytewise order of their names.
    if (msg.has_heartbeat()) {
        const auto& hb = msg.heartbeat();
        out += "{\"interval_ms\":";
        append_int(out, hb.interval_ms());
        if (!hb.moved_to_table().empty()) {
            out += ",\"moved_to\":";
            append_json_string(out, hb.moved_to_schema() + "." + hb.moved_to_table());
        }
        out += ",\"op\":\"heartbeat\",\"schema_seq\":";
        append_int(out, msg.schema_seq());
        out += ",\"seq\":";
        append_int(out, msg.seq());
        out += ",\"table\":";
        append_json_string(out, topic);
        if (hb.unpublished()) out += ",\"unpublished\":true";
        out += '}';
        return;
    }
    if (msg.has_transaction()) {
        // A Transaction on ".tx": seq = position.
        out += "{\"commit_time\":";
        v1::Value t;
        t.set_timestamp(msg.commit_time());
        append_value_json(out, t, bytes);
        out += ",\"op\":\"transaction\",\"position\":";
        append_int(out, msg.position() != 0 ? msg.position() : msg.seq());
        out += ",\"seq\":";
        append_int(out, msg.seq());
        out += ",\"table\":";
        append_json_string(out, topic);
        out += ",\"tables\":[";
        bool first = true;
        for (const auto& r : msg.transaction().tables()) {
            if (!first) out += ',';
            first = false;
            out += "{\"first_seq\":";
            append_int(out, r.first_seq());
            out += ",\"last_seq\":";
            append_int(out, r.last_seq());
            out += ",\"table\":";
            append_json_string(out, r.schema_name() + "." + r.table_name());
            out += '}';
        }
        out += "],\"txid\":";
        append_int(out, msg.txid());
        out += '}';
        return;
    }
    const auto& c = msg.change();
    const bool rows = c.op() != v1::SCHEMA && c.op() != v1::RESYNC && c.op() != v1::TRUNCATE && c.op() != v1::UNPUBLISH;
    out += '{';
    if (rows) {
        append_key(out, "\"key\"");
        append_columns_json(out, c.key(), bytes);
        out += ',';
        if (c.old_key_size() > 0) {
            append_key(out, "\"old_key\"");
            append_columns_json(out, c.old_key(), bytes);
            out += ',';
        }
    }
    out += "\"op\":\"";
    out += op_name(c.op());
    out += '"';
    if (c.op() == v1::RESYNC) {
        out += ",\"reason\":";
        append_json_string(out, c.reason());
    }
    if (c.op() == v1::SCHEMA) {
        const auto& s = c.schema();
        out += ",\"schema\":{\"columns\":[";
        for (int i = 0; i < s.columns_size(); ++i) {
            const auto& col = s.columns(i);
            if (i > 0) out += ',';
            out += "{\"key_position\":";
            append_int(out, col.key_position());
            out += ",\"name\":";
            append_json_string(out, col.name());
            out += ",\"not_null\":";
            append_bool(out, col.not_null());
            out += ",\"type\":";
            append_json_string(out, col.type());
            out += ",\"type_oid\":";
            append_int(out, col.type_oid());
            out += '}';
        }
        out += "],\"full_row\":";
        append_bool(out, s.full_row());
        out += ",\"schema_name\":";
        append_json_string(out, s.schema_name());
        out += ",\"table_name\":";
        append_json_string(out, s.table_name());
        out += '}';
    }
    out += ",\"schema_seq\":";
    append_int(out, msg.schema_seq());
    out += ",\"seq\":";
    append_int(out, msg.seq());
    out += ",\"table\":";
    append_json_string(out, topic);
    out += ",\"tx_last\":";
    append_bool(out, msg.tx_last());
    out += ",\"txid\":";
    append_int(out, msg.txid());
    if (rows) {
        out += ",\"values\":";
        append_columns_json(out, c.values(), bytes);
    }
    out += '}';
}

std::string value_json(const v1::Value& value, BytesFormat bytes) {
    std::string out;
    append_value_json(out, value, bytes);
    return out;
}

std::string message_json(std::string_view topic, const v1::Message& msg, BytesFormat bytes) {
    std::string out;
    append_message_json(out, topic, msg, bytes);
    return out;
}

}  // namespace tablepub
