#include "tablepub/mirror.hpp"

#include <algorithm>
#include <vector>

namespace tablepub {

namespace {

using Columns = google::protobuf::RepeatedPtrField<v1::Column>;

void put_columns(Mirror::Row& row, const Columns& cols) {
    for (const auto& c : cols) row[c.name()] = c.value();
}

void append_length_prefixed(std::string& out, const std::string& s) {
    auto n = static_cast<std::uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out.append(s);
}

}  // namespace

std::string Mirror::encode_key(const Columns& key) {
    std::vector<const v1::Column*> cols;
    cols.reserve(static_cast<std::size_t>(key.size()));
    for (const auto& c : key) cols.push_back(&c);
    std::sort(cols.begin(), cols.end(), [](const v1::Column* a, const v1::Column* b) { return a->name() < b->name(); });
    std::string out;
    std::string value;
    for (const auto* c : cols) {
        append_length_prefixed(out, c->name());
        value.clear();
        // Deterministic: a Value is one scalar (or a small Interval), so equal
        // values always serialize to equal bytes.
        c->value().SerializeToString(&value);
        append_length_prefixed(out, value);
    }
    return out;
}

Mirror::Apply Mirror::apply(const v1::Change& change) {
    switch (change.op()) {
        case v1::INSERT: {
            if (change.key().empty()) return Apply::no_key;
            Row row;
            put_columns(row, change.values());
            put_columns(row, change.key());
            auto [it, inserted] = rows_.insert_or_assign(encode_key(change.key()), std::move(row));
            return inserted ? Apply::ok : Apply::insert_existing;
        }
        case v1::UPDATE: {
            if (change.key().empty()) return Apply::no_key;
            const bool key_changed = !change.old_key().empty();
            auto old_it = rows_.find(encode_key(key_changed ? change.old_key() : change.key()));
            if (old_it == rows_.end()) {
                // Nothing to merge into; keep what the change carries so that a
                // full_row table still ends right, and report it.
                Row row;
                put_columns(row, change.values());
                put_columns(row, change.key());
                rows_.insert_or_assign(encode_key(change.key()), std::move(row));
                return Apply::missing_row;
            }
            if (!key_changed) {
                put_columns(old_it->second, change.values());
                return Apply::ok;
            }
            Row row = std::move(old_it->second);
            rows_.erase(old_it);
            put_columns(row, change.values());
            put_columns(row, change.key());
            auto [it, inserted] = rows_.insert_or_assign(encode_key(change.key()), std::move(row));
            return inserted ? Apply::ok : Apply::key_collision;
        }
        case v1::DELETE:
            if (change.key().empty()) return Apply::no_key;
            return rows_.erase(encode_key(change.key())) ? Apply::ok : Apply::missing_row;
        case v1::TRUNCATE: rows_.clear(); return Apply::ok;
        default: return Apply::not_data;
    }
}

void Mirror::drop_columns(const std::set<std::string>& names) {
    if (names.empty()) return;
    for (auto& [key, row] : rows_)
        for (const auto& n : names) row.erase(n);
}

const Mirror::Row* Mirror::find(const Columns& key) const {
    auto it = rows_.find(encode_key(key));
    return it == rows_.end() ? nullptr : &it->second;
}

void Mirror::for_each(const std::function<void(const Row&)>& fn) const {
    for (const auto& [key, row] : rows_) fn(row);
}

const char* to_string(Mirror::Apply a) noexcept {
    switch (a) {
        case Mirror::Apply::ok: return "ok";
        case Mirror::Apply::insert_existing: return "insert of an existing key";
        case Mirror::Apply::missing_row: return "update or delete of a missing key";
        case Mirror::Apply::key_collision: return "key change onto an existing key";
        case Mirror::Apply::no_key: return "change without a key";
        case Mirror::Apply::not_data: return "not a data change";
    }
    return "?";
}

}  // namespace tablepub
