// set_example PUB_ENDPOINT SNAPSHOT_ENDPOINT TOTAL SENTINEL_ID
//
// Mirrors public.acct_a and public.acct_b (columns id int, balance bigint)
// as one unit with tablepub::SetSubscriber. The test moves money between
// the two tables in single transactions, so the sum of all balances is
// TOTAL at every transaction boundary; this program checks it at every
// boundary the subscriber exposes. Prints "live" once the set is live with
// no lag, then waits until the row with id = SENTINEL_ID is in acct_a
// (written last, with balance 0) and prints the view, one "a|id|balance"
// or "b|id|balance" line per row sorted, then
// "two_table_transactions=N violations=N". Exits 1 on a violation or after
// 60 s without the sentinel.
// It includes only the installed tablepub headers and standard ones: no
// protobuf or ZeroMQ header (tests/install/run.sh checks that).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include <tablepub/set_subscriber.hpp>

namespace {

const std::map<std::string, std::string> tables = {{"public.acct_a", "a"}, {"public.acct_b", "b"}};

std::int64_t total_of(const tablepub::SetView& view) {
    std::int64_t sum = 0;
    for (const auto& [table, name] : tables)
        view.for_each_row(table, [&](const tablepub::DatumRow& row) { sum += row.at("balance").integer; });
    return sum;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: set_example PUB_ENDPOINT SNAPSHOT_ENDPOINT TOTAL SENTINEL_ID\n";
        return 2;
    }
    const std::int64_t total = std::atoll(argv[3]);
    const std::int64_t sentinel = std::atoll(argv[4]);

    tablepub::SetSubscriberOptions options;
    options.publish_endpoints = {argv[1]};
    options.snapshot_endpoints = {argv[2]};
    for (const auto& [table, name] : tables) options.tables.push_back(table);

    const tablepub::SetSubscriber* self = nullptr;
    std::uint64_t boundaries = 0, violations = 0, two_table = 0;
    auto check = [&] {
        self->read([&](const tablepub::SetView& view) {
            ++boundaries;
            if (total_of(view) != total) ++violations;
        });
    };
    tablepub::SetCallbacks callbacks;
    callbacks.on_snapshot = [&](std::uint64_t) { check(); };
    callbacks.on_transaction = [&](const tablepub::SetTransaction& tx) {
        std::set<std::string> touched;
        for (const auto& change : tx.changes) {
            touched.insert(change.table);
            if (change.op != tablepub::ChangeOp::update && change.op != tablepub::ChangeOp::insert) {
                std::cerr << "set_example: unexpected " << to_string(change.op) << " on " << change.table << "\n";
                ++violations;
            }
        }
        if (touched.size() == 2) ++two_table;
        check();
    };
    tablepub::SetSubscriber subscriber(options, callbacks);
    self = &subscriber;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool said_live = false;
    while (std::chrono::steady_clock::now() < deadline && violations == 0) {
        subscriber.poll(std::chrono::milliseconds(100));
        const auto status = subscriber.status();
        if (!said_live && status.state == tablepub::SetState::live && status.lag == 0) {
            std::cout << "live" << std::endl;
            said_live = true;
        }
        if (!said_live) continue;
        std::map<std::string, std::map<std::int64_t, std::int64_t>> rows;
        subscriber.read([&](const tablepub::SetView& view) {
            for (const auto& [table, name] : tables)
                view.for_each_row(table, [&](const tablepub::DatumRow& row) {
                    rows[name][row.at("id").integer] = row.at("balance").integer;
                });
        });
        if (rows["a"].count(sentinel) != 0) {
            for (const auto& [name, by_id] : rows)
                for (const auto& [id, balance] : by_id) std::cout << name << '|' << id << '|' << balance << '\n';
            std::cout << "two_table_transactions=" << two_table << " violations=" << violations
                      << " boundaries=" << boundaries << std::endl;
            return 0;
        }
    }
    if (violations != 0)
        std::cerr << "set_example: the total was not " << total << " at " << violations << " of " << boundaries
                  << " boundaries\n";
    else
        std::cerr << "set_example: no row " << sentinel << " in public.acct_a within 60 s\n";
    return 1;
}
