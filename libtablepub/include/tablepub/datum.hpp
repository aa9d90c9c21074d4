// A column value of a mirrored row in plain C++ (no protobuf): what a
// program built against the installed library reads from
// Subscriber::for_each_row. It carries exactly what the wire Value carries
// (docs/protocol.md, "Values"): the kind says how to read the payload.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tablepub {

namespace v1 {
class Value;
}

struct Datum {
    // The wire kinds, numbered as the fields of Value in tablepub.proto.
    enum class Kind : std::uint8_t {
        null = 1,
        boolean = 2,
        integer = 3,          // int2, int4, int8, oid: `integer`
        real = 4,             // float4, float8: `real`
        text = 5,             // `bytes` holds UTF-8 text
        binary = 6,           // bytea: `bytes` holds the raw bytes
        numeric = 7,          // `bytes` holds the exact decimal text (or NaN, Infinity, -Infinity)
        timestamp = 8,        // timestamptz: `integer` microseconds since 1970-01-01 UTC
        local_timestamp = 9,  // timestamp: `integer` wall-clock microseconds since 1970-01-01
        date = 10,            // `integer` days since 1970-01-01
        interval = 11,        // months, days, microseconds
        uuid = 12,            // `bytes` holds the 16 bytes, network order
        json = 13,            // `bytes` holds the JSON text
        other = 14,           // `bytes` holds the type's canonical text output
        raw_text = 15,        // SQL_ASCII only: `bytes` holds the stored bytes
    };

    Kind kind = Kind::null;
    bool boolean = false;
    std::int64_t integer = 0;
    double real = 0;
    std::string bytes;
    std::int32_t months = 0, days = 0;
    std::int64_t microseconds = 0;

    [[nodiscard]] bool is_null() const noexcept { return kind == Kind::null; }
};

// Column name -> value: one row of a mirror, published columns only.
using DatumRow = std::map<std::string, Datum>;

// The plain form of a wire value (for callbacks, which hand out wire types).
// A kind this library does not know (a newer relay) becomes Kind::other with
// empty bytes.
[[nodiscard]] Datum to_datum(const v1::Value& value);

}  // namespace tablepub
