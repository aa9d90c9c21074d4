// tablepub-bench-snapshot: snapshot figures for bench/snapshot.sh.
//
//   tablepub-bench-snapshot rows SNAPSHOT_ENDPOINT SCHEMA.TABLE CREDIT
//       one snapshot over a raw DEALER socket, rows counted, not kept;
//       prints "<rows> <seconds>"
//   tablepub-bench-snapshot join PUB_ENDPOINT SNAPSHOT_ENDPOINT SCHEMA.TABLE
//       a tablepub::Subscriber joins and keeps a mirror; prints
//       "<rows in mirror> <seconds until live>"
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

#include <zmq.hpp>

#include "tablepub.pb.h"
#include "tablepub/subscriber.hpp"
#include "tablepub/table_sync.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

void send(zmq::socket_t& dealer, const tablepub::v1::Request& req) {
    const std::string bytes = req.SerializeAsString();
    dealer.send(zmq::buffer(bytes), zmq::send_flags::none);
}

int count_rows(const std::string& endpoint, const std::string& table, std::uint32_t credit) {
    const auto dot = table.find('.');
    zmq::context_t ctx(1);
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::rcvtimeo, 60'000);
    dealer.connect(endpoint);

    tablepub::v1::Request req;
    req.set_request_id(1);
    req.set_credit(credit);
    req.mutable_snapshot()->set_schema_name(table.substr(0, dot));
    req.mutable_snapshot()->set_table_name(table.substr(dot + 1));
    const auto start = clock_type::now();
    send(dealer, req);

    tablepub::v1::Request grant;
    grant.set_request_id(1);
    grant.mutable_credit_grant()->set_chunks(1);
    tablepub::v1::Reply reply;
    std::uint64_t rows = 0;
    zmq::message_t frame;
    while (dealer.recv(frame)) {
        if (!reply.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
        if (reply.has_snapshot_rows()) {
            rows += static_cast<std::uint64_t>(reply.snapshot_rows().rows_size());
            send(dealer, grant);
        } else if (reply.has_snapshot_end()) {
            std::cout << rows << ' ' << seconds_since(start) << std::endl;
            return rows == reply.snapshot_end().row_count() ? 0 : 1;
        } else if (reply.has_error()) {
            std::cerr << "error: " << reply.error().message() << "\n";
            return 1;
        }
    }
    std::cerr << "timed out\n";
    return 1;
}

int join(const std::string& pub, const std::string& snapshot, const std::string& table) {
    tablepub::SubscriberOptions options;
    options.publish_endpoints = {pub};
    options.snapshot_endpoints = {snapshot};
    options.tables = {table};
    options.request_timeout = std::chrono::milliseconds(60'000);
    tablepub::Subscriber subscriber(options);
    const auto start = clock_type::now();
    while (!subscriber.all_live()) {
        subscriber.poll(std::chrono::milliseconds(100));
        if (seconds_since(start) > 300) {
            std::cerr << "not live after 300 s\n";
            return 1;
        }
    }
    const double seconds = seconds_since(start);
    std::cout << subscriber.status().front().rows << ' ' << seconds << std::endl;
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "rows" && argc == 5)
        return count_rows(argv[2], argv[3], static_cast<std::uint32_t>(std::stoul(argv[4])));
    if (mode == "join" && argc == 5) return join(argv[2], argv[3], argv[4]);
    std::cerr << "usage: tablepub-bench-snapshot rows SNAPSHOT_ENDPOINT SCHEMA.TABLE CREDIT\n"
                 "       tablepub-bench-snapshot join PUB_ENDPOINT SNAPSHOT_ENDPOINT SCHEMA.TABLE\n";
    return 2;
}
