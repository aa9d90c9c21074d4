#include "relay/audience.hpp"

#include <algorithm>

#include "common/curve_keys.hpp"
#include "common/error.hpp"
#include "common/wire.hpp"
#include "tablepub.pb.h"

namespace tablepub {

namespace {

// Splits text at `sep` outside double quotes; quotes are kept.
std::vector<std::string_view> split_unquoted(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    bool quoted = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '"') quoted = !quoted;
        if (text[i] == sep && !quoted) {
            parts.push_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    parts.push_back(text.substr(start));
    return parts;
}

// One name part: a plain word, or a double-quoted one with "" for a quote.
std::optional<std::string> unquote(std::string_view part) {
    if (part.empty()) return std::nullopt;
    if (part.front() != '"') {
        if (part.find('"') != std::string_view::npos) return std::nullopt;
        return std::string(part);
    }
    if (part.size() < 2 || part.back() != '"') return std::nullopt;
    std::string out;
    for (std::size_t i = 1; i + 1 < part.size(); ++i) {
        if (part[i] == '"') {
            if (i + 2 >= part.size() || part[i + 1] != '"') return std::nullopt;
            ++i;
        }
        out.push_back(part[i]);
    }
    if (out.empty()) return std::nullopt;
    return out;
}

bool valid_group_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

}  // namespace

std::optional<TableFilter::Name> TableFilter::parse_name(std::string_view text) {
    const auto parts = split_unquoted(text, '.');
    if (parts.size() != 2) return std::nullopt;
    auto schema = unquote(parts[0]);
    if (!schema) return std::nullopt;
    // A bare * is the wildcard; "*" quoted is a table named *.
    if (parts[1] == "*") return Name{std::move(*schema), {}, true};
    auto table = unquote(parts[1]);
    if (!table) return std::nullopt;
    return Name{std::move(*schema), std::move(*table), false};
}

void TableFilter::add(const Name& name) {
    everything_ = false;
    if (name.whole_schema)
        schemas_.insert(name.schema);
    else
        tables_.emplace(name.schema, name.table);
}

bool TableFilter::allows(const std::string& schema, const std::string& table) const {
    return everything_ || schemas_.contains(schema) || tables_.contains({schema, table});
}

bool TableFilter::allows_message(std::string_view topic, std::string_view body) const {
    if (everything_) return true;
    const auto dot = topic.find('.');
    if (dot == std::string_view::npos) return false;
    if (topic.find('.', dot + 1) == std::string_view::npos) {
        return allows(std::string(topic.substr(0, dot)), std::string(topic.substr(dot + 1)));
    }
    // "a.b.c" is schema a table b.c, or schema a.b table c: ask the message.
    v1::Message m;
    if (!m.ParseFromArray(body.data(), static_cast<int>(body.size()))) return false;
    return make_topic(m.schema_name(), m.table_name()) == topic && allows(m.schema_name(), m.table_name());
}

std::string TableFilter::describe() const {
    if (everything_) return "all tables";
    std::string out;
    for (const auto& s : schemas_) out += (out.empty() ? "" : ", ") + s + ".*";
    for (const auto& [s, t] : tables_) out += (out.empty() ? "" : ", ") + s + "." + t;
    return out.empty() ? "no table" : out;
}

AudienceSpec parse_audience(std::string_view text) {
    const auto fail = [&](const std::string& why) {
        return ConfigError("--group \"" + std::string(text) + "\": " + why);
    };
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) throw fail("expected NAME:pub=ENDPOINT,...");
    AudienceSpec spec;
    spec.name = std::string(text.substr(0, colon));
    if (!valid_group_name(spec.name)) throw fail("the group name must be 1-64 letters, digits, '_' or '-'");
    if (spec.name == "default") throw fail("\"default\" names the group of --publish/--snapshot");
    std::string field;
    std::set<std::string> seen;
    bool tables_given = false;
    for (const auto item : split_unquoted(text.substr(colon + 1), ',')) {
        std::string_view value = item;
        // '=' inside quotes belongs to a name.
        const auto kv = split_unquoted(item, '=');
        if (kv.size() >= 2) {
            field = std::string(kv[0]);
            value = item.substr(kv[0].size() + 1);
            if (field != "pub" && field != "snap" && field != "keys" && field != "secret" && field != "tables") {
                throw fail("unknown field \"" + field + "\" (pub, snap, keys, secret, tables)");
            }
            if (!seen.insert(field).second) throw fail("field \"" + field + "\" given twice");
        } else if (field != "pub" && field != "snap" && field != "tables") {
            throw fail("\"" + std::string(item) + "\" is not field=value");
        }
        if (value.empty()) throw fail("empty value for \"" + field + "\"");
        if (field == "pub") {
            spec.publish.emplace_back(value);
        } else if (field == "snap") {
            spec.snapshot.emplace_back(value);
        } else if (field == "keys") {
            spec.allow_path = std::string(value);
        } else if (field == "secret") {
            spec.secret_path = std::string(value);
        } else {
            const auto name = TableFilter::parse_name(value);
            if (!name) throw fail("\"" + std::string(value) + "\" is not schema.table or schema.*");
            spec.tables.add(*name);
            tables_given = true;
        }
    }
    if (spec.publish.empty() && spec.snapshot.empty()) throw fail("a group needs a pub or snap endpoint");
    if (seen.contains("tables") && !tables_given) throw fail("tables= names no table");
    if (!spec.secret_path.empty() && spec.allow_path.empty()) {
        throw fail("secret= needs keys= (CURVE without an allow-list would accept any client)");
    }
    return spec;
}

std::vector<Audience> load_audiences(const std::vector<AudienceSpec>& specs, const std::string& default_secret_path) {
    std::vector<Audience> out;
    std::set<std::string> names;
    for (const auto& spec : specs) {
        if (!names.insert(spec.name).second) throw ConfigError("group \"" + spec.name + "\" is defined twice");
        Audience a;
        a.name = spec.name;
        a.publish = spec.publish;
        a.snapshot = spec.snapshot;
        a.tables = spec.tables;
        if (!spec.allow_path.empty()) {
            const auto& secret = spec.secret_path.empty() ? default_secret_path : spec.secret_path;
            if (secret.empty()) {
                throw ConfigError("group \"" + spec.name +
                                  "\" has an allow-list but no server key: give --curve-secret-key (or secret=)");
            }
            a.curve = true;
            a.secret_key = load_secret_key_file(secret).secret_key;
            a.allowed = load_allow_list(spec.allow_path);
        }
        out.push_back(std::move(a));
    }
    if (!default_secret_path.empty()) {
        const bool used = std::any_of(specs.begin(), specs.end(), [](const AudienceSpec& s) {
            return !s.allow_path.empty() && s.secret_path.empty();
        });
        if (!used) {
            throw ConfigError(
                "--curve-secret-key is set but no endpoint has an allow-list: give --curve-allow (or keys= in "
                "--group); CURVE without an allow-list would accept any client");
        }
    }
    return out;
}

std::map<std::string, ZapDomain> zap_domains(const std::vector<Audience>& audiences) {
    std::map<std::string, ZapDomain> out;
    for (const auto& a : audiences) out[a.name] = ZapDomain{a.curve, a.allowed};
    return out;
}

bool audiences_restricted(const std::vector<Audience>& audiences) {
    return !(audiences.size() == 1 && !audiences.front().curve && audiences.front().tables.everything());
}

}  // namespace tablepub
