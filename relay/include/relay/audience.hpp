// Audiences: endpoint groups that give different consumers different
// tables. A group has its own publish and snapshot endpoints, its own
// allowed client keys (or none: plain, unauthenticated endpoints) and the
// tables it carries (docs/operations.md, "The bus").
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bus_security.hpp"

namespace tablepub {

// The tables a group may see: every table, or a list of schema.table names
// and whole schemas (schema.*). Names compare exactly (as in the catalogs
// and in topics, no case folding).
class TableFilter {
public:
    struct Name {
        std::string schema;
        std::string table;
        bool whole_schema = false;  // schema.*
    };
    // Parses "schema.table" or "schema.*"; a name part may be double-quoted
    // ("a.b".c, "" for a quote) to hold a dot, comma, '=', quote or '*'.
    // nullopt when malformed.
    [[nodiscard]] static std::optional<Name> parse_name(std::string_view text);

    // The first add() turns "every table" into "only these".
    void add(const Name& name);

    [[nodiscard]] bool everything() const noexcept { return everything_; }
    [[nodiscard]] bool allows(const std::string& schema, const std::string& table) const;
    // For a published message [topic, body]: topics are "schema.table", so
    // a topic with several dots is ambiguous; then the names inside the
    // serialized Message decide.
    [[nodiscard]] bool allows_message(std::string_view topic, std::string_view body) const;
    // The tables and schemas, for logs ("all tables" when everything()).
    [[nodiscard]] std::string describe() const;

private:
    bool everything_ = true;
    std::set<std::pair<std::string, std::string>> tables_;
    std::set<std::string> schemas_;
};

// One group as configured (--group, or the top-level --publish/--snapshot
// with --curve-allow as the group "default").
struct AudienceSpec {
    std::string name;
    std::vector<std::string> publish;
    std::vector<std::string> snapshot;
    std::string allow_path;   // client public keys (file or directory); empty: plain
    std::string secret_path;  // server secret key file; empty: --curve-secret-key
    TableFilter tables;
};

// Parses "NAME:pub=EP,snap=EP,keys=PATH,secret=PATH,tables=a.b,c.*": items
// separated by commas; an item without '=' continues the list of the field
// before it (pub, snap, tables). Throws ConfigError naming the problem.
[[nodiscard]] AudienceSpec parse_audience(std::string_view text);

// A group with its keys loaded: what the sockets and the ZAP handler use.
struct Audience {
    std::string name;
    std::vector<std::string> publish;
    std::vector<std::string> snapshot;
    bool curve = false;
    std::string secret_key;         // Z85, when curve
    std::set<std::string> allowed;  // Z85 client public keys, when curve
    TableFilter tables;
};

// Loads every key file the groups name (the relay's secret key for the
// groups with an allow-list); throws ConfigError with one line naming the
// file and the problem. Fails closed: a group with an allow-list needs a
// secret key, and a secret key is useless without an allow-list.
[[nodiscard]] std::vector<Audience> load_audiences(const std::vector<AudienceSpec>& specs,
                                                   const std::string& default_secret_path);

// What the ZAP handler accepts: one domain per group, named after it.
[[nodiscard]] std::map<std::string, ZapDomain> zap_domains(const std::vector<Audience>& audiences);

// True when the groups need the ZAP handler and per-request authorization:
// anything but one plain group that carries every table.
[[nodiscard]] bool audiences_restricted(const std::vector<Audience>& audiences);

}  // namespace tablepub
