#pragma once

// How tablepub-tail prints values and messages: JSON written straight into
// a caller's buffer (issue 15: building nlohmann::json objects per message
// held the tail to ~120k lines/s, slower than the relay publishes).
// The text is what nlohmann::json::dump() printed for the same document:
// members sorted by name (bytewise), no spaces, strings escaped the same
// way, non-ASCII UTF-8 kept as is.

#include <cstddef>
#include <string>
#include <string_view>

#include <google/protobuf/repeated_ptr_field.h>
#include <nlohmann/json.hpp>

namespace tablepub {

namespace v1 {
class Column;
class Message;
class Value;
}  // namespace v1

// Deeper json values print as a string: printing is recursive.
inline constexpr std::size_t max_json_depth = 256;

// How tablepub-tail prints bytea values.
enum class BytesFormat { base64, hex };

// Appends s as a JSON string. Bytes that are not UTF-8 (a topic frame is
// raw bytes from the network) become U+FFFD instead of throwing: one
// garbled message must not stop the tail.
void append_json_string(std::string& out, std::string_view s);

// Appends a typed Value as JSON: integers as numbers; NaN and infinities
// of floats as the strings "NaN", "Infinity", "-Infinity"; numeric as its
// exact decimal string; bytea as base64 (or "\\x..." hex); timestamps as
// ISO 8601 strings ("...Z" for timestamptz) and "infinity"/"-infinity";
// dates as "YYYY-MM-DD" (years outside 0..9999 signed: "+10000-01-01",
// "-0044-03-15"); intervals as {"days","microseconds","months"}; uuid in
// its usual text form; json embedded as JSON (as its text when unparseable
// or nested deeper than max_json_depth); other types as their text;
// raw_text (SQL_ASCII bytes that are not UTF-8) as {"raw_text": bytes
// encoded like bytea}.
void append_value_json(std::string& out, const v1::Value& value, BytesFormat bytes);

// Appends columns as one JSON object, members sorted by name; of columns
// sharing a name the last one counts.
void append_columns_json(std::string& out, const google::protobuf::RepeatedPtrField<v1::Column>& cols,
                         BytesFormat bytes);

// Appends one message as the JSON object tablepub-tail prints (no newline).
void append_message_json(std::string& out, std::string_view topic, const v1::Message& msg, BytesFormat bytes);

// The same, as a string of its own (tests, fuzzing).
[[nodiscard]] std::string value_json(const v1::Value& value, BytesFormat bytes);
[[nodiscard]] std::string message_json(std::string_view topic, const v1::Message& msg, BytesFormat bytes);

// An nlohmann::json document as one line (status files; rare lines), with
// invalid UTF-8 replaced like append_json_string does.
[[nodiscard]] std::string json_line(const nlohmann::json& j);

[[nodiscard]] std::string base64_encode(std::string_view bytes);
// "\\x" followed by two lowercase hex digits per byte (bytea's hex format).
[[nodiscard]] std::string hex_encode(std::string_view bytes);

}  // namespace tablepub
