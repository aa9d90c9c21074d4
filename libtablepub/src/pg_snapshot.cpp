#include "tablepub/pg_snapshot.hpp"

#include <algorithm>
#include <charconv>

#include "tablepub.pb.h"

namespace tablepub {

bool PgSnapshot::visible(std::uint64_t txid) const noexcept {
    if (txid < xmin) return true;
    if (txid >= xmax) return false;
    return !std::binary_search(xip.begin(), xip.end(), txid);
}

PgSnapshot PgSnapshot::from(const v1::SnapshotBegin& begin) {
    PgSnapshot s;
    s.xmin = begin.xmin();
    s.xmax = begin.xmax();
    s.xip.assign(begin.xip().begin(), begin.xip().end());
    if (!std::is_sorted(s.xip.begin(), s.xip.end())) std::sort(s.xip.begin(), s.xip.end());
    return s;
}

namespace {

// Parses one unsigned decimal number and advances `text` past it.
std::optional<std::uint64_t> take_number(std::string_view& text) {
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end == text.data()) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return v;
}

}  // namespace

std::optional<PgSnapshot> PgSnapshot::parse(std::string_view text) {
    PgSnapshot s;
    auto xmin = take_number(text);
    if (!xmin || text.empty() || text.front() != ':') return std::nullopt;
    text.remove_prefix(1);
    auto xmax = take_number(text);
    if (!xmax || text.empty() || text.front() != ':') return std::nullopt;
    text.remove_prefix(1);
    s.xmin = *xmin;
    s.xmax = *xmax;
    while (!text.empty()) {
        auto x = take_number(text);
        if (!x) return std::nullopt;
        s.xip.push_back(*x);
        if (!text.empty()) {
            if (text.front() != ',' || text.size() == 1) return std::nullopt;
            text.remove_prefix(1);
        }
    }
    if (s.xmin > s.xmax) return std::nullopt;
    std::sort(s.xip.begin(), s.xip.end());
    for (auto x : s.xip)
        if (x < s.xmin || x >= s.xmax) return std::nullopt;
    return s;
}

}  // namespace tablepub
