#include "common/outbox_pack.hpp"

#include <google/protobuf/io/coded_stream.h>

namespace tablepub {

namespace {

using google::protobuf::io::CodedInputStream;

// One entry of a pack at the start of `in`: its length prefix (protobuf's
// varint, read by protobuf) and the change after it. False when the varint
// is truncated or the change would end past `in`; the 64-bit read sees a
// length over 4 GB as such rather than cut to 32 bits.
bool read_entry(std::string_view in, std::string_view& change, std::string_view& rest) noexcept {
    CodedInputStream stream(reinterpret_cast<const std::uint8_t*>(in.data()), static_cast<int>(in.size()));
    std::uint64_t len = 0;
    if (!stream.ReadVarint64(&len)) return false;
    const auto at = static_cast<std::size_t>(stream.CurrentPosition());
    if (len > in.size() - at) return false;
    change = in.substr(at, static_cast<std::size_t>(len));
    rest = in.substr(at + static_cast<std::size_t>(len));
    return true;
}

}  // namespace

OutboxChanges::OutboxChanges(std::string_view row) noexcept : row_(row) {
    if (packed()) {
        check_pack();
    } else {
        count_ = 1;
    }
}

void OutboxChanges::check_pack() noexcept {
    const std::string_view row = row_;
    if (row.size() > MAX_PACK_BYTES) return fail("is larger than the 1000 bytes a pack may hold");
    // Every entry is checked before any is handed out.
    std::size_t n = 0;
    std::string_view rest = row.substr(1);
    while (!rest.empty()) {
        ++n;
        const auto offset = row.size() - rest.size();
        std::string_view change;
        if (!read_entry(rest, change, rest)) return fail("has a truncated length or ends past the row", n, offset);
        if (change.empty()) return fail("is empty", n, offset);
        if (change.front() == '\0') return fail("is itself a pack", n, offset);
    }
    if (n < 2) return fail("holds fewer than 2 changes");
    count_ = n;
}

void OutboxChanges::fail(const char* problem, std::size_t entry, std::size_t offset) noexcept {
    problem_ = problem;
    entry_ = entry;
    offset_ = offset;
}

std::string OutboxChanges::error() const {
    if (ok()) return {};
    const std::string size = "(" + std::to_string(row_.size()) + " bytes)";
    if (entry_ == 0) return "the pack " + size + " " + problem_;
    return "entry " + std::to_string(entry_) + " at byte " + std::to_string(offset_) + " of the pack " + size + " " +
           problem_;
}

OutboxChanges::iterator OutboxChanges::begin() const noexcept {
    if (!ok()) return end();
    if (!packed()) return iterator(row_, {});
    std::string_view change, rest;
    read_entry(row_.substr(1), change, rest);  // checked by the constructor
    return iterator(change, rest);
}

OutboxChanges::iterator& OutboxChanges::iterator::operator++() noexcept {
    if (rest_.empty()) {
        *this = iterator();
    } else {
        read_entry(rest_, current_, rest_);  // checked by the constructor
    }
    return *this;
}

}  // namespace tablepub
