// Builds the chunk replies of the snapshot endpoint straight from the bytes
// the database (or the sequencer) produced, without parsing each row, with
// the framing of wire.hpp.
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

    ChunkEncoder(Kind kind, std::uint64_t request_id) : kind_(kind), request_id_(request_id) { reset(); }

    void add(std::string_view element);
    [[nodiscard]] std::size_t count() const noexcept { return count_; }
    // Bytes of the elements so far, tags and lengths included.
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return payload_.size() - HEADER_ROOM; }
    // The size of the Reply that finish() would return after add(element):
    // what to check against a message size limit before adding it.
    [[nodiscard]] std::size_t reply_bytes_with(std::size_t element_bytes) const noexcept;
    // The serialized Reply; the encoder is empty afterwards. The Reply is
    // built in place, so a chunk is never held twice.
    [[nodiscard]] std::string finish();

    // Room reserved in front of the elements for the Reply header: two tags
    // and two varints of at most 10 bytes each.
    static constexpr std::size_t HEADER_ROOM = 22;

private:
    void reset();

    Kind kind_;
    std::uint64_t request_id_;
    std::string payload_;  // HEADER_ROOM bytes, then the elements, tagged and length-prefixed
    std::size_t count_ = 0;
};

}  // namespace tablepub
