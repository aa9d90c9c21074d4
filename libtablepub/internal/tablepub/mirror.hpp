// An in-memory copy of one published table, keyed by primary key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>

#include "tablepub.pb.h"

namespace tablepub {

// Applies INSERT/UPDATE/DELETE/TRUNCATE changes (and snapshot rows, which use
// the INSERT form) to rows keyed by their primary key. It never throws on a
// change that does not fit the rows (an UPDATE of a missing key, say): it
// reports an anomaly, applies what it sensibly can, and lets the caller decide
// (the subscriber resyncs).
class Mirror {
public:
    // Column name -> value; only the published columns the stream sent.
    using Row = std::map<std::string, v1::Value>;

    enum class Apply {
        ok,
        insert_existing,  // INSERT of a key already present (row replaced)
        missing_row,      // UPDATE/DELETE of a key not present
        key_collision,    // UPDATE moved a row onto an existing key (replaced)
        no_key,           // INSERT/UPDATE/DELETE without a key
        not_data,         // SCHEMA/UNPUBLISH/unknown op: not for the mirror
    };

    // Applies one change; Apply::ok unless the change did not fit the rows.
    Apply apply(const v1::Change& change);

    void clear() noexcept { rows_.clear(); }
    // Removes these columns from every row (they stopped being published).
    void drop_columns(const std::set<std::string>& names);

    [[nodiscard]] std::size_t size() const noexcept { return rows_.size(); }
    [[nodiscard]] bool empty() const noexcept { return rows_.empty(); }
    // The row with this primary key (key columns in any order), or nullptr.
    [[nodiscard]] const Row* find(const google::protobuf::RepeatedPtrField<v1::Column>& key) const;
    // Calls fn(row) for every row, in no particular order.
    void for_each(const std::function<void(const Row&)>& fn) const;

    // Canonical encoding of a primary key: the key columns sorted by name,
    // each as name and serialized value, so equal keys give equal strings.
    [[nodiscard]] static std::string encode_key(const google::protobuf::RepeatedPtrField<v1::Column>& key);

private:
    std::unordered_map<std::string, Row> rows_;
};

[[nodiscard]] const char* to_string(Mirror::Apply a) noexcept;

}  // namespace tablepub
