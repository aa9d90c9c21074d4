// A burst on the stream must not hold back the snapshot endpoint's replies
// (docs/design.md, "A step reads at most so many stream messages"): a
// fake relay (XPUB and ROUTER on ipc sockets) answers the snapshot request,
// then floods the table's topic; the test drives the Subscriber one step at
// a time (poll(0)) and answers requests itself, so nothing depends on
// thread timing.

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "tablepub.pb.h"
#include "tablepub/poll_budget.hpp"
#include "tablepub/set_subscriber.hpp"
#include "tablepub/subscriber.hpp"

namespace tablepub {
namespace {

using namespace std::chrono_literals;

class FakeRelay {
public:
    FakeRelay() : pub_(ctx_, zmq::socket_type::xpub), router_(ctx_, zmq::socket_type::router) {
        char tmpl[] = "/tmp/tablepub-flood-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        pub_.set(zmq::sockopt::sndhwm, 0);
        // The context's end must not wait for messages no peer takes any
        // more (the flood outlives the subscriber): with the default
        // (infinite) linger, ~FakeRelay hung in zmq_ctx_term in 1 CI run.
        pub_.set(zmq::sockopt::linger, 0);
        router_.set(zmq::sockopt::linger, 0);
        pub_.bind(publish());
        router_.bind(snapshot());
    }
    ~FakeRelay() {
        pub_.close();
        router_.close();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    [[nodiscard]] std::string publish() const { return "ipc://" + dir_ + "/pub"; }
    [[nodiscard]] std::string snapshot() const { return "ipc://" + dir_ + "/snap"; }

    // Reads subscription messages; true once every prefix was subscribed.
    bool subscribed(const std::vector<std::string>& prefixes) {
        zmq::message_t m;
        while (pub_.recv(m, zmq::recv_flags::dontwait)) {
            const auto s = m.to_string();
            if (!s.empty() && s[0] == 1) subscribed_.push_back(s.substr(1));
        }
        for (const auto& p : prefixes)
            if (std::find(subscribed_.begin(), subscribed_.end(), p) == subscribed_.end()) return false;
        return true;
    }

    // Answers a waiting snapshot request with an empty snapshot of every
    // table it names, at seq and position 0; false if none waits.
    bool answer_snapshot() {
        std::vector<zmq::message_t> frames;
        if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) return false;
        v1::Request req;
        EXPECT_TRUE(req.ParseFromArray(frames.back().data(), static_cast<int>(frames.back().size())));
        if (!req.has_snapshot()) return false;
        std::vector<std::pair<std::string, std::string>> names{
            {req.snapshot().schema_name(), req.snapshot().table_name()}};
        for (const auto& t : req.snapshot().more_tables()) names.emplace_back(t.schema_name(), t.table_name());
        for (std::size_t i = 0; i < names.size(); ++i) {
            v1::Reply b;
            b.set_request_id(req.request_id());
            auto* sb = b.mutable_snapshot_begin();
            sb->set_xmin(100);
            sb->set_xmax(100);
            sb->set_schema_name(names[i].first);
            sb->set_table_name(names[i].second);
            if (names.size() > 1 || req.snapshot().more_tables_size() > 0) {
                sb->set_table_index(static_cast<std::uint32_t>(i));
                sb->set_table_count(static_cast<std::uint32_t>(names.size()));
            }
            auto* c = sb->mutable_schema()->add_columns();
            c->set_name("id");
            c->set_type_oid(23);
            c->set_key_position(1);
            v1::Reply e;
            e.set_request_id(req.request_id());
            e.mutable_snapshot_end()->set_row_count(0);
            send_reply(frames.front(), b);
            send_reply(frames.front(), e);
        }
        return true;
    }

    // n heartbeats on `topic`, seqs 1..n, all queued before the subscriber
    // reads the first.
    void flood(const std::string& topic, std::uint64_t n) {
        for (std::uint64_t seq = 1; seq <= n; ++seq) {
            v1::Message m;
            m.set_seq(seq);
            m.set_position(seq);
            m.mutable_heartbeat()->set_interval_ms(60'000);
            const auto bytes = m.SerializeAsString();
            pub_.send(zmq::buffer(topic), zmq::send_flags::sndmore);
            pub_.send(zmq::buffer(bytes));
        }
    }

private:
    void send_reply(const zmq::message_t& identity, const v1::Reply& r) {
        router_.send(zmq::buffer(identity.data(), identity.size()), zmq::send_flags::sndmore);
        router_.send(zmq::buffer(r.SerializeAsString()));
    }

    zmq::context_t ctx_{1};
    zmq::socket_t pub_, router_;
    std::string dir_;
    std::vector<std::string> subscribed_;
};

constexpr std::uint64_t burst = 50'000;

// Steps `step` (one poll(0) each) until `live` says the snapshot is in,
// checking after every step that no more than the budget of stream
// messages was read per step (`read` says how many so far); the snapshot
// must arrive long before the burst is read.
template <class Step, class Read, class Live>
void expect_replies_go_first(FakeRelay& relay, const Step& step, const Read& read, const Live& live) {
    std::uint64_t steps = 0;
    bool answered = false;
    while (!live()) {
        step();
        ++steps;
        answered = answered || relay.answer_snapshot();
        ASSERT_LE(read(), steps * max_stream_messages_per_step) << "step " << steps << " read past its budget";
        ASSERT_LT(read(), burst) << "the snapshot waited for the whole burst";
    }
    EXPECT_TRUE(answered);
}

TEST(PollBudget, SubscriberAnswersRepliesDuringABurst) {
    FakeRelay relay;
    SubscriberOptions o;
    o.publish_endpoints = {relay.publish()};
    o.snapshot_endpoints = {relay.snapshot()};
    o.tables = {"public.t"};
    Subscriber sub(o);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!relay.subscribed({"public.t"})) {
        sub.poll(10ms);
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    }
    // The snapshot request went out in the first step; the burst is queued
    // before the reply.
    relay.flood("public.t", burst);
    expect_replies_go_first(
        relay, [&] { sub.poll(0ms); }, [&] { return sub.status().at(0).latest_seq; },
        [&] { return sub.status().at(0).state != SyncState::syncing; });
}

TEST(PollBudget, SetSubscriberAnswersRepliesDuringABurst) {
    FakeRelay relay;
    SetSubscriberOptions o;
    o.publish_endpoints = {relay.publish()};
    o.snapshot_endpoints = {relay.snapshot()};
    o.tables = {"public.a", "public.b"};
    SetSubscriber sub(o);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!relay.subscribed({"public.a", "public.b", ".tx"})) {
        sub.poll(10ms);
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    }
    relay.flood(".tx", burst);
    expect_replies_go_first(
        relay, [&] { sub.poll(0ms); }, [&] { return sub.status().latest_position; },
        [&] { return sub.status().state != SetState::syncing; });
}

}  // namespace
}  // namespace tablepub
