// mirror_example PUB_ENDPOINT SNAPSHOT_ENDPOINT TABLE SENTINEL_ID
//
// Mirrors TABLE (columns id int, name text) with tablepub::Subscriber.
// Prints "live" once the table is live, then waits until the row with
// id = SENTINEL_ID is in the mirror (the test writes it last) and prints the
// mirror, one "id|name" line per row sorted by id (NULL as \N, like psql's
// unaligned output with \pset null). Exits 1 after 60 s without it.
// It includes only the installed tablepub headers and standard ones: no
// protobuf or ZeroMQ header (tests/install/run.sh checks that).
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <tablepub/subscriber.hpp>

namespace {

std::string text_of(const tablepub::Datum& v) {
    switch (v.kind) {
        case tablepub::Datum::Kind::integer: return std::to_string(v.integer);
        case tablepub::Datum::Kind::text: return v.bytes;
        case tablepub::Datum::Kind::null: return "\\N";
        default: return "?";
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: mirror_example PUB_ENDPOINT SNAPSHOT_ENDPOINT TABLE SENTINEL_ID\n";
        return 2;
    }
    const std::string table = argv[3];
    const std::int64_t sentinel = std::atoll(argv[4]);

    tablepub::SubscriberOptions options;
    options.publish_endpoints = {argv[1]};
    options.snapshot_endpoints = {argv[2]};
    options.tables = {table};
    tablepub::Subscriber subscriber(options);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool said_live = false;
    while (std::chrono::steady_clock::now() < deadline) {
        subscriber.poll(std::chrono::milliseconds(100));
        if (!said_live && subscriber.all_live()) {
            std::cout << "live" << std::endl;
            said_live = true;
        }
        if (!said_live) continue;
        std::map<std::int64_t, std::string> rows;
        bool done = false;
        subscriber.for_each_row(table, [&](const tablepub::DatumRow& row) {
            const std::int64_t id = row.at("id").integer;
            if (id == sentinel) done = true;
            rows[id] = row.count("name") ? text_of(row.at("name")) : "?";
        });
        if (done) {
            for (const auto& [id, name] : rows) std::cout << id << '|' << name << '\n';
            return 0;
        }
    }
    std::cerr << "mirror_example: no row " << sentinel << " in the mirror of " << table << " within 60 s\n";
    return 1;
}
