#include "relay/relay_observer.hpp"

#include <charconv>
#include <cstdlib>

#include "common/pg_connection.hpp"

namespace tablepub {

std::vector<OutboxPartition> read_outbox_partitions(PgConnection& conn) {
    // pg_stat_get_live_tuples: the statistics collector's count, reset by
    // the TRUNCATE that cleans a partition; counting rows would scan them.
    auto res = conn.exec(
        "SELECT c.relname, pg_catalog.pg_stat_get_live_tuples(c.oid), pg_catalog.pg_total_relation_size(c.oid)"
        "  FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'tablepub.outbox'::pg_catalog.regclass ORDER BY c.relname");
    std::vector<OutboxPartition> out;
    for (int r = 0; r < res.rows(); ++r) {
        out.push_back({res.text(r, 0), static_cast<double>(res.int64(r, 1)), static_cast<double>(res.int64(r, 2))});
    }
    return out;
}

std::uint64_t xids_between(const std::string& prev, const std::string& snap) noexcept {
    const auto xmax = [](const std::string& s) -> std::uint64_t {
        const auto colon = s.find(':');
        std::uint64_t v = 0;
        if (colon == std::string::npos) return 0;
        (void)std::from_chars(s.data() + colon + 1, s.data() + s.size(), v);
        return v;
    };
    const auto a = xmax(prev), b = xmax(snap);
    return b > a ? b - a : 0;
}

double published_age_seconds(PgConnection& conn) {
    auto res = conn.exec(
        "SELECT pg_catalog.date_part('epoch', pg_catalog.now() - COALESCE(b.created, s.updated))"
        "  FROM tablepub.relay_state s LEFT JOIN tablepub.relay_batch b ON b.batch_id = s.last_batch");
    if (res.rows() == 0 || res.is_null(0, 0)) return 0;
    return std::strtod(res.text(0, 0).c_str(), nullptr);
}

}  // namespace tablepub
