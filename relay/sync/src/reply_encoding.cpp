#include "tablepub/reply_encoding.hpp"

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

void ChunkEncoder::add(std::string_view element)
{
    append_varint(payload_, tag(ELEMENTS, WIRE_LEN));
    append_varint(payload_, element.size());
    payload_.append(element);
    ++count_;
}

std::string ChunkEncoder::finish()
{
    std::string out;
    out.reserve(payload_.size() + 24);
    if (request_id_ != 0) {
        append_varint(out, tag(REPLY_REQUEST_ID, WIRE_VARINT));
        append_varint(out, request_id_);
    }
    append_varint(out, tag(kind_ == Kind::snapshot_rows ? REPLY_SNAPSHOT_ROWS : REPLY_REPLAY_MESSAGES,
                           WIRE_LEN));
    append_varint(out, payload_.size());
    out.append(payload_);
    payload_.clear();
    count_ = 0;
    return out;
}

}  // namespace tablepub
