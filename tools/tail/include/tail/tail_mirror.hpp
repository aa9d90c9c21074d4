#pragma once

// tablepub-tail --mirror: the mirror of each followed table written as JSON
// lines, in a canonical form a test can compare with the table row by row.

#include <compare>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tail/tail_format.hpp"

namespace tablepub {

class Mirror;

namespace v1 {
class TableSchema;
class Value;
}  // namespace v1

// A total order on values of one key column: NULL first, then by kind, then
// by value (integers and timestamps numerically, numeric by decimal value,
// text and bytes by byte order).
[[nodiscard]] std::strong_ordering compare_values(const v1::Value& a, const v1::Value& b);

// The mirror's rows as lines `{"row":{...},"table":"schema.table"}`, columns
// by name, values as tablepub-tail prints them (append_value_json), sorted by
// the primary key in key order (schema key_position), ties by the line.
[[nodiscard]] std::vector<std::string> mirror_lines(std::string_view table, const Mirror& mirror,
                                                    const v1::TableSchema& schema, BytesFormat bytes);

// Writes content to path through "<path>.tmp" and rename(2), so a reader
// sees the old file or the new one, never a partial one. Throws
// std::system_error naming the file.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace tablepub
