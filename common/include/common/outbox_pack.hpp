#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace tablepub {

// The largest `change` column of a packed outbox row, marker included. A
// packed row is therefore always read inline (the relay's inline limit and
// --max-change-bytes are at least 1 kB), and a larger row that starts like a
// pack is corrupt, never a pack.
inline constexpr std::size_t MAX_PACK_BYTES = 1000;
static_assert(MAX_PACK_BYTES < 1024, "a change of a pack must never reach --max-change-bytes (at least 1 kB)");

// The changes of one outbox row's `change` column (docs/design.md, "Packed
// outbox rows"). A plain row is one serialized tablepub.v1.Change, whose
// first byte is a protobuf tag and never 0x00. A packed row is the byte
// 0x00, then 2 or more entries, each a protobuf varint length L >= 1 and L
// bytes of one serialized Change, and nothing after the last one.
//
// The whole row is checked when this is made, before any change is handed
// out: a malformed pack yields no change at all, so a reader never
// publishes part of one. The changes are views into the row (no copy): the
// row must outlive this and its iterators.
class OutboxChanges {
public:
    // Walks the entries of a well-formed row (a plain row: one, itself).
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::string_view*;
        using reference = const std::string_view&;

        iterator() noexcept = default;
        reference operator*() const noexcept { return current_; }
        pointer operator->() const noexcept { return &current_; }
        iterator& operator++() noexcept;
        iterator operator++(int) noexcept {
            iterator old = *this;
            ++*this;
            return old;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.end_ == b.end_ && (a.end_ || a.current_.data() == b.current_.data());
        }

    private:
        friend class OutboxChanges;
        iterator(std::string_view current, std::string_view rest) noexcept
            : current_(current), rest_(rest), end_(false) {}

        std::string_view current_;
        std::string_view rest_;  // the entries after current_ (of a pack)
        bool end_ = true;
    };

    explicit OutboxChanges(std::string_view row) noexcept;

    // False for a malformed pack (then it holds no change).
    [[nodiscard]] bool ok() const noexcept { return problem_ == nullptr; }
    // Whether the row starts with the pack marker (well-formed or not).
    [[nodiscard]] bool packed() const noexcept { return !row_.empty() && row_.front() == '\0'; }
    // The number of changes: 1 for a plain row, 2 or more for a pack, 0
    // for a malformed pack.
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    // What is wrong with a malformed pack, for an error message that names
    // the row ("" when ok()), e.g. "entry 3 at byte 412 ends past the row".
    [[nodiscard]] std::string error() const;

    [[nodiscard]] iterator begin() const noexcept;
    [[nodiscard]] iterator end() const noexcept { return iterator(); }

private:
    // Counts a pack's changes, or finds what is malformed in it.
    void check_pack() noexcept;
    // Marks the row malformed: problem in entry (1-based; 0: the row as a
    // whole) at byte offset. It then holds no change.
    void fail(const char* problem, std::size_t entry = 0, std::size_t offset = 0) noexcept;

    std::string_view row_;
    std::size_t count_ = 0;
    const char* problem_ = nullptr;  // static text; nullptr when well-formed
    std::size_t entry_ = 0;          // 1-based entry the problem is in (0: the row)
    std::size_t offset_ = 0;         // where in the row
};

}  // namespace tablepub
