#include "sync/reply_encoding.hpp"

namespace tablepub {

namespace {

// Field numbers of proto/tablepub.proto.
constexpr std::uint32_t REPLY_REQUEST_ID = 1;
constexpr std::uint32_t REPLY_SNAPSHOT_ROWS = 11;
constexpr std::uint32_t REPLY_REPLAY_MESSAGES = 14;
constexpr std::uint32_t ELEMENTS = 1;  // SnapshotRows.rows, ReplayMessages.messages
constexpr std::uint32_t WIRE_VARINT = 0;
constexpr std::uint32_t WIRE_LEN = 2;

constexpr std::uint64_t tag(std::uint32_t field, std::uint32_t wire) { return (field << 3) | wire; }

}  // namespace

void append_varint(std::string& out, std::uint64_t v)
{
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

std::size_t varint_size(std::uint64_t v) noexcept
{
    std::size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

void ChunkEncoder::reset()
{
    payload_.assign(HEADER_ROOM, '\0');
    count_ = 0;
}

std::size_t ChunkEncoder::reply_bytes_with(std::size_t element_bytes) const noexcept
{
    const auto elements = payload_bytes() + 1 + varint_size(element_bytes) + element_bytes;
    return HEADER_ROOM + elements;  // an upper bound: the header is at most HEADER_ROOM
}

void ChunkEncoder::add(std::string_view element)
{
    append_varint(payload_, tag(ELEMENTS, WIRE_LEN));
    append_varint(payload_, element.size());
    payload_.append(element);
    ++count_;
}

std::string ChunkEncoder::finish()
{
    std::string header;
    if (request_id_ != 0) {
        append_varint(header, tag(REPLY_REQUEST_ID, WIRE_VARINT));
        append_varint(header, request_id_);
    }
    append_varint(header, tag(kind_ == Kind::snapshot_rows ? REPLY_SNAPSHOT_ROWS : REPLY_REPLAY_MESSAGES,
                              WIRE_LEN));
    append_varint(header, payload_bytes());
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
