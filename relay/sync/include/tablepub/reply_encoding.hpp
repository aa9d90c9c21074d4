// Builds the chunk replies of the snapshot endpoint straight from the bytes
// the database (or the sequencer) produced, without parsing each row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tablepub {

// Accumulates the already-serialized elements of one chunk (Change rows or
// Message bodies) and writes a serialized Reply
//   { request_id, <chunk field> { <element field 1> : element, ... } }
// byte for byte as protobuf would for the parsed equivalent.
class ChunkEncoder {
public:
    enum class Kind { snapshot_rows, replay_messages };

    ChunkEncoder(Kind kind, std::uint64_t request_id) noexcept : kind_(kind), request_id_(request_id) {}

    void add(std::string_view element);
    [[nodiscard]] std::size_t count() const noexcept { return count_; }
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return payload_.size(); }
    // The serialized Reply; the encoder is empty afterwards.
    [[nodiscard]] std::string finish();

private:
    Kind kind_;
    std::uint64_t request_id_;
    std::string payload_;  // the repeated elements, tagged and length-prefixed
    std::size_t count_ = 0;
};

// Appends a protobuf base-128 varint.
void append_varint(std::string& out, std::uint64_t v);

}  // namespace tablepub
