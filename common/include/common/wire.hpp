#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tablepub {

// Values of tablepub.v1.Op, kept here so hot paths need not include the
// generated header.
enum class ChangeOp : std::uint32_t {
    unspecified = 0,
    insert = 1,
    update = 2,
    remove = 3,
    truncate = 4,
    schema = 5,
    unpublish = 6,
    resync = 7,
};

// Bytes [offset, end) of `bytes`: a payload with `offset` bytes of room in
// front of it, so that an envelope can be written there instead of copying
// a large payload into a new buffer. A consumer may take `bytes` over.
struct HeadroomBuffer {
    std::string bytes;
    std::size_t offset = 0;

    [[nodiscard]] std::string_view view() const noexcept {
        return std::string_view(bytes).substr(std::min(offset, bytes.size()));
    }
    // So that a consumer that only reads can take a string_view.
    operator std::string_view() const noexcept { return view(); }  // NOLINT(google-explicit-constructor)
};

// Room a change read separately keeps in front of it for its Message
// envelope: fields 1-8 with names of up to 255 bytes, plus the tag and
// length of field 10. An envelope that does not fit is copied instead.
inline constexpr std::size_t MESSAGE_HEADROOM = 640;

// The envelope fields of one published tablepub.v1.Message.
struct MessageHeader {
    std::string_view schema_name;
    std::string_view table_name;
    std::uint64_t seq = 0;
    std::uint64_t txid = 0;
    bool tx_last = false;
    std::uint64_t schema_seq = 0;
    std::uint64_t position = 0;    // the transaction's commit position
    std::int64_t commit_time = 0;  // microseconds since the epoch
};

// Appends a serialized tablepub.v1.Message whose `change` is the given
// serialized tablepub.v1.Change, embedded as is (a submessage and a bytes
// field share the wire format), so the change is never parsed. The output
// is byte-for-byte what protobuf would produce for the same message.
void encode_change_message(std::string& out, const MessageHeader& header, std::string_view change);

// What a heartbeat says besides "alive": the table was unpublished, or it
// was renamed and now publishes on topic "<moved_to_schema>.<moved_to_table>".
struct HeartbeatNotice {
    bool unpublished = false;
    std::string_view moved_to_schema;
    std::string_view moved_to_table;
};

// Appends the envelope of such a Message: everything before the change's
// bytes, for a change of change_size bytes.
void encode_message_envelope(std::string& out, const MessageHeader& header, std::size_t change_size);

// The serialized RESYNC Change that replaces a change of `size` bytes over
// the relay's limit. Depends only on its arguments, so a redo or a replay
// of the batch produces the same bytes.
[[nodiscard]] std::string oversized_change(std::string_view schema_name, std::string_view table_name,
                                           std::uint64_t txid, std::uint64_t size, std::uint64_t limit);

// The serialized RESYNC Change that replaces an outbox row holding a
// malformed pack of changes (common/outbox_pack.hpp), whose changes cannot
// be told apart; `problem` says what is wrong with it. Depends only on its
// arguments, as oversized_change().
[[nodiscard]] std::string malformed_pack_change(std::string_view schema_name, std::string_view table_name,
                                                std::uint64_t txid, std::string_view problem);

// A serialized heartbeat Message for one table (or, with empty names, for
// the transaction topic: seq = position = the last position).
[[nodiscard]] std::string encode_heartbeat(std::string_view schema_name, std::string_view table_name, std::uint64_t seq,
                                           std::uint64_t schema_seq, std::uint64_t interval_ms,
                                           const HeartbeatNotice& notice = {}, std::uint64_t position = 0);

// The topic of the Transaction messages (docs/protocol.md, "Commit order"):
// no table's topic, since a schema name is never empty.
inline constexpr std::string_view TRANSACTION_TOPIC = ".tx";

// One table's messages of a transaction (tablepub.v1.TableRange).
struct TransactionRange {
    std::string_view schema_name;  // the topic they went to
    std::string_view table_name;
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
};

// Appends a serialized Message with body Transaction: seq = position,
// txid, position, commit_time, the given ranges in order and the name of
// the endpoint group that sends it (empty: none). Byte-for-byte what
// protobuf would produce.
void encode_transaction_message(std::string& out, std::uint64_t position, std::uint64_t txid, std::int64_t commit_time,
                                const TransactionRange* ranges, std::size_t count, std::string_view group = {});

// The `op` of a serialized Change, read by skipping the other top-level
// fields. Throws Error on malformed input.
[[nodiscard]] ChangeOp peek_op(std::string_view change);

// The envelope fields of a serialized Message (names point into it), read
// without parsing its change or heartbeat. Throws Error on malformed input.
[[nodiscard]] MessageHeader peek_message_header(std::string_view message);

// The ZeroMQ topic of a table: "<schema>.<table>".
[[nodiscard]] std::string make_topic(std::string_view schema_name, std::string_view table_name);

// The protobuf framing that the envelopes above and the snapshot endpoint's
// chunk replies (reply_encoding.hpp) put around bytes that are already
// serialized, so that those are embedded as they are, never parsed or
// copied twice. This is the project's one protobuf encoder besides the
// generated code; its varints are protobuf's own (CodedOutputStream).

// Appends a varint field (nothing for 0: proto3 leaves defaults out).
void append_varint_field(std::string& out, std::uint32_t field, std::uint64_t value);
// Appends the tag and length of a length-delimited field (bytes, string or
// submessage: the same on the wire) whose `size` bytes follow.
void append_length_prefix(std::string& out, std::uint32_t field, std::size_t size);
// Bytes append_length_prefix() writes.
[[nodiscard]] std::size_t length_prefix_size(std::uint32_t field, std::size_t size) noexcept;

}  // namespace tablepub
