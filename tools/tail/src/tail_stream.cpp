#include "tail/tail_stream.hpp"

#include <cerrno>
#include <chrono>
#include <optional>
#include <ostream>
#include <string_view>
#include <vector>

#include <google/protobuf/arena.h>
#include <zmq.hpp>

#include "common/bus_security.hpp"
#include "common/error.hpp"
#include "common/zmq_util.hpp"
#include "tablepub.pb.h"
#include "tail/tail_format.hpp"
#include "tail/tail_gaps.hpp"
#include "tail/tail_output.hpp"
#include "tail/tail_repair.hpp"

namespace tablepub {

namespace {

using Clock = TailRepair::Clock;

// Messages read from the SUB socket before the snapshot endpoint gets its
// turn: a flood of live messages must not starve the replay that repairs it.
constexpr int SUB_BATCH = 4096;
constexpr int REPLY_BATCH = 64;
// Messages are parsed into an arena of this size: a message's strings and
// submessages cost no malloc/free each (a third of the tail's time before).
// It is reset once half full, so that messages (of up to half its size) are
// parsed into its first block only: reset at full, it had grown by blocks
// from malloc that the reset freed, and glibc gave that memory back to the
// kernel and faulted it in again every few thousand messages (brk and page
// faults were about 7% of the tail's CPU time draining a backlog).
constexpr std::size_t ARENA_BYTES = 4u << 20;

// Receives one [topic, body] message without blocking; false when none is
// queued. Messages of another shape (they cannot come from a relay) are
// skipped whole; ZeroMQ delivers the frames of a message together, so
// reading the rest of one never blocks.
bool recv_message(zmq::socket_t& sub, zmq::message_t& topic, zmq::message_t& body) {
    for (;;) {
        if (!sub.recv(topic, zmq::recv_flags::dontwait)) return false;
        if (!topic.more()) continue;
        (void)sub.recv(body);
        if (!body.more()) return true;
        zmq::message_t rest;
        do {
            (void)sub.recv(rest);
        } while (rest.more());
    }
}

zmq::socket_t make_dealer(zmq::context_t& ctx, const TailOptions& options, const CurveClient& curve) {
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    apply_curve_client(dealer, curve);
    for (const auto& ep : options.snapshot_endpoints) {
        try {
            dealer.connect(ep);
        } catch (const zmq::error_t& e) {
            throw ConfigError("cannot connect to " + ep + ": " + e.what(), "", ep);
        }
    }
    return dealer;
}

}  // namespace

int run_tail_stream(const TailOptions& options, const volatile std::sig_atomic_t* stop, int out_fd, std::ostream& err) {
    const bool repair = !options.snapshot_endpoints.empty();
    zmq::context_t ctx(1);
    // Without --table: every table, not the transaction topic (its output
    // leaves ".tx" out; the relay then need not build it).
    const auto prefixes = options.tables.empty() ? every_topic_but(TRANSACTION_TOPIC) : options.tables;
    const auto curve = load_curve_client(options.curve_server_key, options.curve_client_key);
    const int hwm = options.receive_hwm >= 0 ? options.receive_hwm : repair ? DEFAULT_REPAIR_RECEIVE_HWM : 0;
    auto sub = make_subscriber(ctx, options.connect, prefixes, curve, hwm);
    std::optional<zmq::socket_t> dealer;
    if (repair) dealer = make_dealer(ctx, options, curve);

    TailOutput out(out_fd);
    std::uint64_t printed = 0;
    bool done = false;
    auto print = [&](std::string_view topic, const v1::Message& m) {
        if (done || (m.has_heartbeat() && !options.heartbeats)) return;
        append_message_json(out.buffer(), topic, m, options.bytes);
        out.end_line();
        if (!m.has_heartbeat() && options.count != 0 && ++printed >= options.count) done = true;
    };
    TailGaps gaps;
    std::optional<TailRepair> repairer;
    if (repair) {
        TailRepairOptions ro;
        ro.max_buffered_bytes = options.replay_buffer_bytes;
        ro.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
        repairer.emplace(ro, TailRepair::Sink{print, [&](const TailGap& gap, const std::string& why) {
                                                  err << "tablepub-tail: " << describe(gap) << ": " << why << std::endl;
                                              }});
    }

    zmq::message_t topic, body;
    std::vector<char> first_block(ARENA_BYTES);
    google::protobuf::ArenaOptions arena_options;
    arena_options.initial_block = first_block.data();
    arena_options.initial_block_size = first_block.size();
    google::protobuf::Arena arena(arena_options);
    while (*stop == 0 && !done) {
        bool busy = false;
        auto now = Clock::now();
        try {
            for (int i = 0; i < SUB_BATCH && !done && recv_message(sub, topic, body); ++i) {
                busy = true;
                const std::string_view t(topic.data<char>(), topic.size());
                if (!topic_selected(options, t)) continue;
                if (arena.SpaceUsed() > ARENA_BYTES / 2) arena.Reset();
                auto& msg = *google::protobuf::Arena::CreateMessage<v1::Message>(&arena);
                if (!msg.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
                    err << "tablepub-tail: dropped a message on " << t << " that is not a tablepub.v1.Message\n";
                    continue;
                }
                if (repairer) {
                    repairer->on_live(t, msg, {body.data<char>(), body.size()}, now);
                    continue;
                }
                if (const auto gap = gaps.on_message(t, msg)) err << "tablepub-tail: " << describe(*gap) << std::endl;
                print(t, msg);
            }
            if (repairer) {
                now = Clock::now();
                zmq::message_t frame;
                for (int i = 0; i < REPLY_BATCH && dealer->recv(frame, zmq::recv_flags::dontwait); ++i) {
                    busy = true;
                    v1::Reply reply;
                    if (reply.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
                        repairer->on_reply(reply, now);
                }
                repairer->tick(now);
                if (repairer->take_reconnect()) dealer = make_dealer(ctx, options, curve);
                for (const auto& req : repairer->take_requests()) {
                    // One that cannot be queued now is asked again after the timeout.
                    (void)dealer->send(zmq::buffer(req.SerializeAsString()), zmq::send_flags::dontwait);
                }
            }
            if (busy) continue;
            // Nothing more to read: what is printed goes out now.
            if (out.pending()) out.flush();
            zmq::pollitem_t items[] = {{sub.handle(), 0, ZMQ_POLLIN, 0},
                                       {dealer ? dealer->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
            zmq::poll(items, dealer ? 2 : 1, std::chrono::milliseconds(100));
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) throw;
        }
    }

    std::uint64_t lost = gaps.gaps(), missing = gaps.missing();
    if (repairer) {
        if (!done) repairer->give_up_all("the tail stopped before it was replayed", Clock::now());
        const auto& s = repairer->stats();
        lost = s.lost_gaps;
        missing = s.lost_messages;
        if (s.replayed > 0)
            err << "tablepub-tail: " << s.replays << " replay(s) printed " << s.replayed
                << " message(s) the live stream had dropped" << std::endl;
    }
    out.flush();
    if (lost == 0) return 0;
    err << "tablepub-tail: " << lost << " gap(s), " << missing << " message(s) never received; the output is incomplete"
        << std::endl;
    return options.allow_gaps ? 0 : 3;
}

}  // namespace tablepub
