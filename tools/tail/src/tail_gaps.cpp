#include "tail/tail_gaps.hpp"

#include "tablepub.pb.h"

namespace tablepub {

std::optional<TailGap> TailGaps::on_message(std::string_view table, const v1::Message& msg) {
    const auto seq = msg.seq();
    if (msg.has_heartbeat() && !msg.heartbeat().moved_to_table().empty()) {
        // The seq of a "moved" heartbeat belongs to the table's new topic.
        return std::nullopt;
    }
    auto it = last_.find(table);
    if (it == last_.end()) {
        // A heartbeat repeats the latest seq; a change takes it.
        last_.emplace(std::string(table), seq);
        return std::nullopt;
    }
    auto& last = it->second;
    // Heartbeats announce `seq` as already sent; a change is seq itself.
    const std::uint64_t expected_up_to = msg.has_heartbeat() ? seq : seq - 1;
    std::optional<TailGap> gap;
    if (seq > last && expected_up_to > last) {
        gap = TailGap{std::string(table), last + 1, expected_up_to};
        ++gaps_;
        missing_ += expected_up_to - last;
    }
    if (seq > last) last = seq;
    return gap;
}

std::string describe(const TailGap& gap) {
    const auto n = gap.last - gap.first + 1;
    return "table " + gap.table + ": missed seq " + std::to_string(gap.first) + ".." + std::to_string(gap.last) + " (" +
           std::to_string(n) + (n == 1 ? " message)" : " messages)");
}

}  // namespace tablepub
