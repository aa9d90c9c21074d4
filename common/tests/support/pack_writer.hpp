#pragma once

// Tests only: writes an outbox row's `change` column as the extension packs
// it (docs/design.md, "Packed outbox rows"), for the tests of every reader of
// packs (common/outbox_pack, sequence_row, the relay against a database).

#include <google/protobuf/io/coded_stream.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tablepub::test {

// Appends v as a protobuf varint.
inline void put_varint(std::string& out, std::uint64_t v) {
    std::uint8_t buf[10];
    const auto* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(end - buf));
}

// A packed row of these serialized changes: 0x00, then each change's length
// as a varint and its bytes. Well-formed when there are 2 or more non-empty
// changes and the result is at most MAX_PACK_BYTES; tests of malformed packs
// build them from here on purpose.
inline std::string pack_changes(const std::vector<std::string>& changes) {
    std::string out(1, '\0');
    for (const auto& c : changes) {
        put_varint(out, c.size());
        out += c;
    }
    return out;
}

}  // namespace tablepub::test
