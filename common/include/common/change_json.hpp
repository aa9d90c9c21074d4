#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tablepub {

namespace v1 {
class Message;
class Value;
}  // namespace v1

// Deeper json values print as a string: printing is recursive.
inline constexpr std::size_t max_json_depth = 256;

// How tablepub-tail prints bytea values.
enum class BytesFormat { base64, hex };

// A typed Value as JSON: integers as numbers; NaN and infinities of floats
// as the strings "NaN", "Infinity", "-Infinity"; numeric as its exact
// decimal string; bytea as base64 (or "\\x..." hex); timestamps as ISO 8601
// strings ("...Z" for timestamptz) and "infinity"/"-infinity"; dates as
// "YYYY-MM-DD"; intervals as {"months","days","microseconds"}; uuid in its
// usual text form; json embedded as JSON (as its text when unparseable or
// nested deeper than max_json_depth); other types as their text;
// raw_text (SQL_ASCII bytes that are not UTF-8) as {"raw_text": bytes
// encoded like bytea}.
[[nodiscard]] nlohmann::json value_to_json(const v1::Value& value, BytesFormat bytes);

// One message as the JSON object tablepub-tail prints.
[[nodiscard]] nlohmann::json message_to_json(std::string_view topic, const v1::Message& msg, BytesFormat bytes);

// One output line (without the newline). Bytes that are not UTF-8 (a
// topic frame is raw bytes from the network) become U+FFFD instead of
// throwing: one garbled message must not stop the tail.
[[nodiscard]] std::string json_line(const nlohmann::json& j);

[[nodiscard]] std::string base64_encode(std::string_view bytes);
// "\\x" followed by two lowercase hex digits per byte (bytea's hex format).
[[nodiscard]] std::string hex_encode(std::string_view bytes);

}  // namespace tablepub
