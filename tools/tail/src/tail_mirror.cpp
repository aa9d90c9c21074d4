#include "tail/tail_mirror.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "tablepub.pb.h"
#include "tablepub/mirror.hpp"

namespace tablepub {

namespace {

// Decimal strings compare by value; "NaN" sorts above everything, as in
// PostgreSQL. Ties of equal value (1.0 vs 1.00) fall back to the text.
std::strong_ordering compare_numeric(const std::string& a, const std::string& b) {
    const bool a_nan = a == "NaN", b_nan = b == "NaN";
    if (a_nan || b_nan) {
        if (a_nan == b_nan) return std::strong_ordering::equal;
        return a_nan ? std::strong_ordering::greater : std::strong_ordering::less;
    }
    const long double x = std::strtold(a.c_str(), nullptr), y = std::strtold(b.c_str(), nullptr);
    if (x < y) return std::strong_ordering::less;
    if (x > y) return std::strong_ordering::greater;
    return a <=> b;
}

}  // namespace

std::strong_ordering compare_values(const v1::Value& a, const v1::Value& b) {
    const auto ka = a.kind_case() == v1::Value::KIND_NOT_SET ? v1::Value::kNull : a.kind_case();
    const auto kb = b.kind_case() == v1::Value::KIND_NOT_SET ? v1::Value::kNull : b.kind_case();
    if (ka != kb) {
        if (ka == v1::Value::kNull) return std::strong_ordering::less;
        if (kb == v1::Value::kNull) return std::strong_ordering::greater;
        return static_cast<int>(ka) <=> static_cast<int>(kb);
    }
    switch (ka) {
        case v1::Value::kBoolean: return a.boolean() <=> b.boolean();
        case v1::Value::kInteger: return a.integer() <=> b.integer();
        case v1::Value::kReal: {
            // NaN above every number, like PostgreSQL's float ordering.
            const double x = a.real(), y = b.real();
            if (std::isnan(x) || std::isnan(y)) {
                if (std::isnan(x) == std::isnan(y)) return std::strong_ordering::equal;
                return std::isnan(x) ? std::strong_ordering::greater : std::strong_ordering::less;
            }
            if (x < y) return std::strong_ordering::less;
            return x > y ? std::strong_ordering::greater : std::strong_ordering::equal;
        }
        case v1::Value::kText: return a.text() <=> b.text();
        case v1::Value::kBinary: return a.binary() <=> b.binary();
        case v1::Value::kNumeric: return compare_numeric(a.numeric(), b.numeric());
        case v1::Value::kTimestamp: return a.timestamp() <=> b.timestamp();
        case v1::Value::kLocalTimestamp: return a.local_timestamp() <=> b.local_timestamp();
        case v1::Value::kDate: return a.date() <=> b.date();
        case v1::Value::kInterval: {
            const auto& x = a.interval();
            const auto& y = b.interval();
            if (auto c = x.months() <=> y.months(); c != 0) return c;
            if (auto c = x.days() <=> y.days(); c != 0) return c;
            return x.microseconds() <=> y.microseconds();
        }
        case v1::Value::kUuid: return a.uuid() <=> b.uuid();
        case v1::Value::kJson: return a.json() <=> b.json();
        case v1::Value::kOther: return a.other() <=> b.other();
        case v1::Value::kRawText: return a.raw_text() <=> b.raw_text();
        default: return std::strong_ordering::equal;
    }
}

std::vector<std::string> mirror_lines(std::string_view table, const Mirror& mirror, const v1::TableSchema& schema,
                                      BytesFormat bytes) {
    std::vector<std::pair<std::uint32_t, std::string>> key_cols;
    for (const auto& c : schema.columns())
        if (c.key_position() > 0) key_cols.emplace_back(c.key_position(), c.name());
    std::sort(key_cols.begin(), key_cols.end());

    struct Entry {
        std::vector<v1::Value> key;
        std::string line;
    };
    std::vector<Entry> entries;
    entries.reserve(mirror.size());
    const v1::Value null_value;
    mirror.for_each([&](const Mirror::Row& row) {
        Entry e;
        for (const auto& [pos, name] : key_cols) {
            auto it = row.find(name);
            e.key.push_back(it == row.end() ? null_value : it->second);
        }
        // Members sorted by name, as every object tablepub-tail prints
        // (a Row is a std::map: its names are in that order already).
        e.line = "{\"row\":{";
        bool first = true;
        for (const auto& [name, value] : row) {
            if (!first) e.line += ',';
            first = false;
            append_json_string(e.line, name);
            e.line += ':';
            append_value_json(e.line, value, bytes);
        }
        e.line += "},\"table\":";
        append_json_string(e.line, table);
        e.line += '}';
        entries.push_back(std::move(e));
    });
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        for (std::size_t i = 0; i < a.key.size() && i < b.key.size(); ++i)
            if (auto c = compare_values(a.key[i], b.key[i]); c != 0) return c < 0;
        return a.line < b.line;
    });
    std::vector<std::string> out;
    out.reserve(entries.size());
    for (auto& e : entries) out.push_back(std::move(e.line));
    return out;
}

void write_file_atomically(const std::string& path, std::string_view content) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot create " + tmp);
    std::size_t done = 0;
    while (done < content.size()) {
        const auto n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw std::system_error(err, std::generic_category(), "cannot write " + tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw std::system_error(err, std::generic_category(), "cannot write " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        throw std::system_error(err, std::generic_category(), "cannot rename " + tmp + " to " + path);
    }
}

}  // namespace tablepub
