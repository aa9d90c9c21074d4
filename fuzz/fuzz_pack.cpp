// libFuzzer target: OutboxChanges, the splitter of packed outbox rows
// (common/outbox_pack.hpp). The input is one outbox row's change column.
//
// Besides crashes it checks what the splitter promises:
//   - a row not starting with 0x00 is one change, the row itself;
//   - a well-formed pack is at most MAX_PACK_BYTES, holds 2 or more
//     changes, none empty or itself 0x00-prefixed, and its entries (length
//     prefixes and changes, in order) cover the row after the marker
//     exactly, each change a view into the row;
//   - a malformed one yields no change and says why.
#include <google/protobuf/io/coded_stream.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/outbox_pack.hpp"
#include "fuzz_input.hpp"

using tablepub::OutboxChanges;
using tablepub::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view row(reinterpret_cast<const char*>(data), size);
    const OutboxChanges changes(row);
    if (!changes.ok()) {
        check(changes.packed(), "a plain row is never malformed");
        check(changes.size() == 0 && changes.begin() == changes.end(), "a malformed pack yields no change");
        check(!changes.error().empty(), "a malformed pack says why");
        return 0;
    }
    check(changes.error().empty(), "a well-formed row has no error");
    if (!changes.packed()) {
        check(changes.size() == 1, "a plain row is one change");
        auto it = changes.begin();
        check(it != changes.end() && it->data() == row.data() && it->size() == row.size(), "the change is the row");
        check(++it == changes.end(), "a plain row has nothing after its change");
        return 0;
    }
    check(row.size() <= tablepub::MAX_PACK_BYTES, "a pack is at most MAX_PACK_BYTES");
    check(changes.size() >= 2, "a pack holds 2 or more changes");
    // Walk the row independently: each entry is a varint, then the change.
    std::size_t at = 1, n = 0;
    for (const auto change : changes) {
        ++n;
        check(!change.empty() && change.front() != '\0', "a change of a pack is not empty and not a pack");
        google::protobuf::io::CodedInputStream in(data + at, static_cast<int>(size - at));
        std::uint64_t len = 0;
        check(in.ReadVarint64(&len) && len == change.size(), "the length prefix is the change's size");
        at += static_cast<std::size_t>(in.CurrentPosition());
        check(change.data() == row.data() + at, "the change follows its length prefix in the row");
        at += change.size();
    }
    check(n == changes.size(), "size() counts the changes iterated");
    check(at == size, "the entries cover the row exactly");
    return 0;
}
