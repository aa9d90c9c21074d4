#include "common/wire.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "common/error.hpp"
#include "tablepub.pb.h"

namespace tablepub {

namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

enum WireType : std::uint32_t { VARINT = 0, FIXED64 = 1, LEN = 2, FIXED32 = 5 };

constexpr std::uint32_t tag(std::uint32_t field, WireType type) { return (field << 3) | type; }

void put_varint(std::string& out, std::uint64_t v) {
    std::uint8_t buf[10];
    const auto* end = CodedOutputStream::WriteVarint64ToArray(v, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(end - buf));
}

void put_bytes(std::string& out, std::uint32_t field, std::string_view v) {
    if (v.empty()) return;
    append_length_prefix(out, field, v.size());
    out.append(v);
}

}  // namespace

void append_varint_field(std::string& out, std::uint32_t field, std::uint64_t value) {
    if (value == 0) return;  // proto3 leaves defaults out
    put_varint(out, tag(field, VARINT));
    put_varint(out, value);
}

void append_length_prefix(std::string& out, std::uint32_t field, std::size_t size) {
    put_varint(out, tag(field, LEN));
    put_varint(out, size);
}

std::size_t length_prefix_size(std::uint32_t field, std::size_t size) noexcept {
    return CodedOutputStream::VarintSize32(tag(field, LEN)) + CodedOutputStream::VarintSize64(size);
}

void encode_message_envelope(std::string& out, const MessageHeader& h, std::size_t change_size) {
    put_bytes(out, 1, h.schema_name);
    put_bytes(out, 2, h.table_name);
    append_varint_field(out, 3, h.seq);
    append_varint_field(out, 4, h.txid);
    append_varint_field(out, 5, h.tx_last ? 1 : 0);
    append_varint_field(out, 6, h.schema_seq);
    append_varint_field(out, 7, h.position);
    append_varint_field(out, 8, WireFormatLite::ZigZagEncode64(h.commit_time));  // sint64
    // A oneof member is always written, even when empty.
    append_length_prefix(out, 10, change_size);
}

namespace {

// Bytes of a field as append_varint_field / put_bytes write it.
std::size_t varint_field_size(std::uint32_t field, std::uint64_t v) {
    return v == 0 ? 0 : CodedOutputStream::VarintSize32(field << 3) + CodedOutputStream::VarintSize64(v);
}
std::size_t bytes_field_size(std::uint32_t field, std::string_view v) {
    return v.empty() ? 0 : length_prefix_size(field, v.size()) + v.size();
}
std::size_t range_size(const TransactionRange& r) {
    return bytes_field_size(1, r.schema_name) + bytes_field_size(2, r.table_name) + varint_field_size(3, r.first_seq) +
           varint_field_size(4, r.last_seq);
}

}  // namespace

void encode_transaction_message(std::string& out, std::uint64_t position, std::uint64_t txid, std::int64_t commit_time,
                                const TransactionRange* ranges, std::size_t count, std::string_view group) {
    // Sizes first, then one pass of appends: no temporary buffer per
    // transaction on the publishing path.
    std::size_t body = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const auto n = range_size(ranges[i]);
        body += length_prefix_size(1, n) + n;
    }
    body += bytes_field_size(2, group);
    append_varint_field(out, 3, position);
    append_varint_field(out, 4, txid);
    append_varint_field(out, 7, position);
    append_varint_field(out, 8, WireFormatLite::ZigZagEncode64(commit_time));  // sint64
    // A oneof member is always written, even when empty.
    append_length_prefix(out, 12, body);
    for (std::size_t i = 0; i < count; ++i) {
        const auto& r = ranges[i];
        append_length_prefix(out, 1, range_size(r));
        put_bytes(out, 1, r.schema_name);
        put_bytes(out, 2, r.table_name);
        append_varint_field(out, 3, r.first_seq);
        append_varint_field(out, 4, r.last_seq);
    }
    put_bytes(out, 2, group);
}

void encode_change_message(std::string& out, const MessageHeader& h, std::string_view change) {
    encode_message_envelope(out, h, change.size());
    out.append(change);
}

std::string oversized_change(std::string_view schema_name, std::string_view table_name, std::uint64_t txid,
                             std::uint64_t size, std::uint64_t limit) {
    v1::Change c;
    c.set_op(v1::RESYNC);
    c.set_reason("a change of table " + std::string(schema_name) + "." + std::string(table_name) + " in transaction " +
                 std::to_string(txid) + " is " + std::to_string(size) + " bytes, over the relay's limit of " +
                 std::to_string(limit) + " bytes (--max-change-bytes)");
    return c.SerializeAsString();
}

std::string malformed_pack_change(std::string_view schema_name, std::string_view table_name, std::uint64_t txid,
                                  std::string_view problem) {
    v1::Change c;
    c.set_op(v1::RESYNC);
    c.set_reason("an outbox row of table " + std::string(schema_name) + "." + std::string(table_name) +
                 " in transaction " + std::to_string(txid) +
                 " is a malformed pack of changes: " + std::string(problem));
    return c.SerializeAsString();
}

std::string encode_heartbeat(std::string_view schema_name, std::string_view table_name, std::uint64_t seq,
                             std::uint64_t schema_seq, std::uint64_t interval_ms, const HeartbeatNotice& notice,
                             std::uint64_t position) {
    v1::Message msg;
    msg.set_schema_name(std::string(schema_name));
    msg.set_table_name(std::string(table_name));
    msg.set_seq(seq);
    msg.set_schema_seq(schema_seq);
    msg.set_position(position);
    auto* hb = msg.mutable_heartbeat();
    hb->set_interval_ms(interval_ms);
    hb->set_unpublished(notice.unpublished);
    hb->set_moved_to_schema(std::string(notice.moved_to_schema));
    hb->set_moved_to_table(std::string(notice.moved_to_table));
    return msg.SerializeAsString();
}

namespace {

// Calls on_varint(field, value) or on_bytes(field, bytes) for every
// top-level field of a serialized message, in order, with protobuf's own
// reader; fixed-size fields are skipped. `what` names the message in errors.
// (A message is at most 1 GB, a bytea, so its size fits protobuf's int.)
template <typename OnVarint, typename OnBytes>
void scan_fields(std::string_view data, const char* what, OnVarint on_varint, OnBytes on_bytes) {
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(data.data()), static_cast<int>(data.size()));
    while (in.CurrentPosition() < static_cast<int>(data.size())) {
        const std::uint32_t t = in.ReadTagNoLastTag();
        const std::uint32_t field = t >> 3;
        bool ok = true;
        switch (t & 7) {
            case VARINT: {
                std::uint64_t v = 0;
                ok = in.ReadVarint64(&v);
                if (ok) on_varint(field, v);
                break;
            }
            case FIXED64: ok = in.Skip(8); break;
            case LEN: {
                std::uint32_t len = 0;
                ok = in.ReadVarint32(&len);
                const auto at = static_cast<std::size_t>(in.CurrentPosition());
                ok = ok && in.Skip(static_cast<int>(len));
                if (ok) on_bytes(field, data.substr(at, len));
                break;
            }
            case FIXED32: ok = in.Skip(4); break;
            default: throw Error(std::string("malformed ") + what + ": unsupported wire type");
        }
        if (t == 0 || !ok) throw Error(std::string("malformed ") + what + ": truncated or overlong field");
    }
}

}  // namespace

ChangeOp peek_op(std::string_view change) {
    std::uint64_t op = 0;
    scan_fields(
        change, "change",
        [&](std::uint32_t field, std::uint64_t v) {
            if (field == 1) op = v;  // last one wins, as in protobuf
        },
        [](std::uint32_t, std::string_view) {});
    if (op > static_cast<std::uint64_t>(ChangeOp::resync)) return ChangeOp::unspecified;
    return static_cast<ChangeOp>(op);
}

MessageHeader peek_message_header(std::string_view message) {
    MessageHeader h;
    scan_fields(
        message, "message",
        [&](std::uint32_t field, std::uint64_t v) {
            if (field == 3) h.seq = v;
            if (field == 4) h.txid = v;
            if (field == 5) h.tx_last = v != 0;
            if (field == 6) h.schema_seq = v;
            if (field == 7) h.position = v;
            if (field == 8) h.commit_time = WireFormatLite::ZigZagDecode64(v);
        },
        [&](std::uint32_t field, std::string_view bytes) {
            if (field == 1) h.schema_name = bytes;
            if (field == 2) h.table_name = bytes;
        });
    return h;
}

std::string make_topic(std::string_view schema_name, std::string_view table_name) {
    std::string t;
    t.reserve(schema_name.size() + table_name.size() + 1);
    t.append(schema_name).append(".").append(table_name);
    return t;
}

}  // namespace tablepub
