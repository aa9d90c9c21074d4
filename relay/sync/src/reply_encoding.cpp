#include "sync/reply_encoding.hpp"

#include "common/wire.hpp"

namespace tablepub {

namespace {

// Field numbers of proto/tablepub.proto.
constexpr std::uint32_t REPLY_REQUEST_ID = 1;
constexpr std::uint32_t REPLY_SNAPSHOT_ROWS = 11;
constexpr std::uint32_t REPLY_REPLAY_MESSAGES = 14;
constexpr std::uint32_t ELEMENTS = 1;  // SnapshotRows.rows, ReplayMessages.messages

}  // namespace

void ChunkEncoder::reset() {
    payload_.assign(HEADER_ROOM, '\0');
    count_ = 0;
}

std::size_t ChunkEncoder::reply_bytes_with(std::size_t element_bytes) const noexcept {
    const auto elements = payload_bytes() + length_prefix_size(ELEMENTS, element_bytes) + element_bytes;
    return HEADER_ROOM + elements;  // an upper bound: the header is at most HEADER_ROOM
}

void ChunkEncoder::add(std::string_view element) {
    append_length_prefix(payload_, ELEMENTS, element.size());
    payload_.append(element);
    ++count_;
}

std::string ChunkEncoder::finish() {
    std::string header;
    append_varint_field(header, REPLY_REQUEST_ID, request_id_);
    append_length_prefix(header, kind_ == Kind::snapshot_rows ? REPLY_SNAPSHOT_ROWS : REPLY_REPLAY_MESSAGES,
                         payload_bytes());
    // The header goes right before the elements; the unused room in front
    // of it is dropped by moving the bytes down, without a second buffer.
    const auto start = HEADER_ROOM - header.size();
    payload_.replace(start, header.size(), header);
    payload_.erase(0, start);
    std::string out = std::move(payload_);
    reset();
    return out;
}

}  // namespace tablepub
