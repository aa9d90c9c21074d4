#include "sync/sync_server.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/wire.hpp"
#include "stream.hpp"
#include "sync/reply_encoding.hpp"
#include "sync/request_limits.hpp"
#include "sync/request_validation.hpp"

namespace tablepub {

using sync::Clock;
using sync::Stream;

namespace {

std::atomic<unsigned> server_counter{0};

// Replies of a worker travel [identity, request_id (8 bytes), reply] over
// inproc; the server strips the request id (used if the client is gone).
std::uint64_t read_id(const zmq::message_t& m) noexcept {
    std::uint64_t id = 0;
    if (m.size() == sizeof id) std::memcpy(&id, m.data(), sizeof id);
    return id;
}

// A reply handed to ZeroMQ without a copy, and the stream it is charged to.
struct QueuedReply {
    std::string bytes;
    std::shared_ptr<Stream> stream;
};

SyncStats::Kind kind_of(const v1::Request& request) noexcept {
    return request.has_snapshot() ? SyncStats::SNAPSHOT : SyncStats::REPLAY;
}

// ZeroMQ's free function of a reply: called once it has written the reply
// to the connection (or dropped it), from whichever thread that was.
void release_reply(void*, void* hint) noexcept {
    std::unique_ptr<QueuedReply> r(static_cast<QueuedReply*>(hint));
    {
        std::lock_guard lock(r->stream->mutex);
        r->stream->queued_bytes -= r->bytes.size();
    }
    r->stream->cv.notify_all();
}

// One warning line per interval for malformed requests, however many come.
class MalformedLog {
public:
    void operator()(const std::string& what) {
        const auto now = Clock::now();
        if (now < next_) {
            ++suppressed_;
            return;
        }
        if (suppressed_ > 0)
            spdlog::warn("snapshot endpoint: malformed request: {} ({} more since the last report)", what, suppressed_);
        else
            spdlog::warn("snapshot endpoint: malformed request: {}", what);
        suppressed_ = 0;
        next_ = now + std::chrono::seconds(10);
    }

private:
    Clock::time_point next_{};
    std::size_t suppressed_ = 0;
};

// Every option of the snapshot endpoint's ROUTER socket, in one place.
void configure_router(zmq::socket_t& router, const SyncServerOptions& options) {
    router.set(zmq::sockopt::linger, 0);
    // A larger frame disconnects its sender before ZeroMQ buffers it.
    router.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(MAX_REQUEST_BYTES));
    // A client has no reason to queue more than a few requests and credits;
    // beyond that ZeroMQ stops reading its connection (nothing is dropped).
    router.set(zmq::sockopt::rcvhwm, 8);
    // Replies queued per client connection: the chunks its streams may have
    // in flight plus their Begin and End, and a few errors. A send beyond it
    // fails at once (ROUTER_MANDATORY, never blocking): the stream is ended,
    // and further error replies to that client are dropped.
    const auto per_peer = options.max_streams_per_peer * (static_cast<std::size_t>(options.max_credit) + 2) + 32;
    router.set(zmq::sockopt::sndhwm, static_cast<int>(std::min<std::size_t>(per_peer, 1'000'000)));
    router.set(zmq::sockopt::router_mandatory, 1);
}

}  // namespace

namespace sync {

StreamContext::StreamContext(zmq::context_t& ctx, const std::string& inproc, const SyncServerOptions& options,
                             DurableSnapshots& durable, std::shared_ptr<Stream> stream)
    : options_(options), durable_(durable), stream_(std::move(stream)), push_(ctx, zmq::socket_type::push) {
    push_.set(zmq::sockopt::linger, 0);
    push_.connect(inproc);
}

std::uint32_t StreamContext::chunk_rows() const noexcept {
    const auto asked = stream_->request.max_chunk_rows();
    return asked != 0 && asked < options_.chunk_rows ? asked : options_.chunk_rows;
}

void StreamContext::send(std::string reply) {
    auto queued = std::make_unique<QueuedReply>(QueuedReply{std::move(reply), stream_});
    const auto size = queued->bytes.size();
    zmq::message_t body(queued->bytes.data(), size, release_reply, queued.get());
    (void)queued.release();  // now owned by the message: release_reply frees it
    {
        std::lock_guard lock(stream_->mutex);
        stream_->queued_bytes += size;
    }
    std::uint64_t id = stream_->request_id;
    push_.send(zmq::buffer(stream_->identity), zmq::send_flags::sndmore);
    push_.send(zmq::buffer(&id, sizeof id), zmq::send_flags::sndmore);
    push_.send(body, zmq::send_flags::none);
    if (options_.stats) {
        SyncStats::add(options_.stats->bytes[stream_->request.has_snapshot() ? SyncStats::SNAPSHOT : SyncStats::REPLAY],
                       size);
    }
}

void StreamContext::send_error(v1::ErrorCode code, const std::string& message) {
    v1::Reply r;
    r.set_request_id(stream_->request_id);
    r.mutable_error()->set_code(code);
    r.mutable_error()->set_message(message);
    send(r);
}

void StreamContext::take_credit() {
    auto& s = *stream_;
    const auto budget = static_cast<std::size_t>(options_.max_credit) * options_.chunk_bytes;
    std::unique_lock lock(s.mutex);
    const auto ready = [&] { return s.cancelled || s.preempted || (s.credit > 0 && s.queued_bytes < budget); };
    if (!ready()) {
        spdlog::debug("stream {}: waiting (credit {}, {} bytes queued)", s.request_id, s.credit, s.queued_bytes);
        s.stalled_since = Clock::now();
        const bool woke = s.cv.wait_for(lock, options_.idle_timeout, ready);
        s.stalled_since.reset();
        if (!woke) throw StreamAborted{true, false};
    }
    if (s.preempted) throw StreamAborted{false, true};
    if (s.cancelled) throw StreamAborted{};
    --s.credit;
}

void check_element_size(const StreamContext& ctx, std::size_t element_bytes, const char* what,
                        const std::string& table) {
    const auto limit = ctx.options().max_reply_bytes;
    // The element alone in a chunk: its tag, length and the Reply header.
    if (length_prefix_size(1, element_bytes) + element_bytes + ChunkEncoder::HEADER_ROOM > limit)
        throw TooLarge(std::string(what) + " of table " + table + " is " + std::to_string(element_bytes) +
                       " bytes, more than the relay sends in one reply (" + std::to_string(limit) +
                       " bytes, --snapshot-max-reply-bytes)");
}

}  // namespace sync

struct SyncServer::Impl {
    zmq::context_t& ctx;
    SyncServerOptions options;
    std::string inproc;
    zmq::socket_t router;
    zmq::socket_t pull;
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::atomic<std::size_t> active{0};
    std::map<std::pair<std::string, std::uint64_t>, std::shared_ptr<Stream>> streams;
    MalformedLog malformed_log;
    sync::DurableSnapshots durable;

    Impl(zmq::context_t& c, SyncServerOptions o)
        : ctx(c),
          options(std::move(o)),
          inproc("inproc://tablepub-sync-" + std::to_string(++server_counter)),
          router(c, zmq::socket_type::router),
          pull(c, zmq::socket_type::pull),
          durable(options.conninfo) {
        configure_router(router, options);
        const auto bind = [this](const std::vector<std::string>& endpoints) {
            for (const auto& ep : endpoints) {
                try {
                    router.bind(ep);
                } catch (const zmq::error_t& e) {
                    throw ConfigError("cannot bind snapshot endpoint " + ep + ": " + e.what(), {}, ep);
                }
            }
        };
        bind(options.endpoints);
        // Security options apply to the endpoints bound after them.
        for (const auto& group : options.secured_endpoints) {
            apply_security(router, group.security);
            bind(group.endpoints);
        }
        if (options.on_bound) options.on_bound(router);
        pull.set(zmq::sockopt::linger, 0);
        pull.bind(inproc);
    }

    // Never blocks: a client whose queue is full, or who is gone, misses it.
    void reply_error(const std::string& identity, std::uint64_t request_id, v1::ErrorCode code,
                     const std::string& message) {
        v1::Reply r;
        r.set_request_id(request_id);
        r.mutable_error()->set_code(code);
        r.mutable_error()->set_message(message);
        const auto bytes = r.SerializeAsString();
        try {
            if (router.send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
                (void)router.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
            // The client is gone: nothing to tell it.
        }
    }

    void count_refusal(SyncStats::Refusal why) noexcept {
        if (options.stats) SyncStats::add(options.stats->refused[why]);
    }

    void malformed(const std::string& identity, std::uint64_t request_id, const std::string& message) {
        count_refusal(SyncStats::MALFORMED);
        malformed_log(message);
        reply_error(identity, request_id, v1::MALFORMED_REQUEST, message);
    }

    // Reads one message frame by frame: its routing id and first frame are
    // kept, further frames are counted and released at once. False when
    // nothing was waiting.
    bool receive(std::string& identity, zmq::message_t& body, std::size_t& frames) {
        zmq::message_t id;
        if (!router.recv(id, zmq::recv_flags::dontwait)) return false;
        identity = id.to_string();
        frames = 0;
        bool more = id.more();
        zmq::message_t frame;
        while (more && router.recv(frame, zmq::recv_flags::dontwait)) {
            if (++frames == 1) {
                body.move(frame);
                more = body.more();
            } else {
                more = frame.more();
            }
        }
        return true;
    }

    // Streams that hold a slot: running, not finished, not preempted.
    [[nodiscard]] bool holds_slot(const Stream& s) const noexcept { return !s.finished && !s.preempted; }

    // Whether a new stream of this client may start now, preempting the
    // longest-stalled stream if every slot is taken; the BUSY message if not.
    std::optional<std::string> admit(const std::string& identity) {
        std::size_t total = 0, mine = 0;
        Stream* victim = nullptr;
        Clock::time_point oldest = Clock::now() - options.preempt_after;
        for (auto& [key, s] : streams) {
            std::lock_guard lock(s->mutex);
            if (!holds_slot(*s)) continue;
            ++total;
            if (s->identity == identity) ++mine;
            if (s->stalled_since && *s->stalled_since <= oldest) {
                oldest = *s->stalled_since;
                victim = s.get();
            }
        }
        if (mine >= options.max_streams_per_peer)
            return "this connection already runs " + std::to_string(mine) +
                   " streams (--snapshot-max-streams-per-peer); retry later";
        if (total < options.max_streams) return std::nullopt;
        if (victim == nullptr)
            return "the relay serves its maximum of " + std::to_string(options.max_streams) + " streams; retry later";
        {
            std::lock_guard lock(victim->mutex);
            victim->preempted = true;
        }
        victim->cv.notify_all();
        return std::nullopt;
    }

    void on_request(const std::string& identity, zmq::message_t& body, std::size_t frames) {
        auto parsed = sync::parse_request(frames, body.to_string_view());
        if (const auto* r = std::get_if<sync::Rejection>(&parsed)) {
            malformed(identity, r->request_id, r->message);
            return;
        }
        v1::Request req = std::move(std::get<v1::Request>(parsed));
        const auto id = req.request_id();
        const auto key = std::make_pair(identity, id);
        switch (req.kind_case()) {
            case v1::Request::kCreditGrant:
            case v1::Request::kCancel: {
                auto it = streams.find(key);
                // A Credit or Cancel racing the end of its stream is normal:
                // answering it would only add a reply the client must ignore.
                if (it == streams.end() || it->second->finished) return;
                auto& s = *it->second;
                {
                    std::lock_guard lock(s.mutex);
                    if (req.has_cancel())
                        s.cancelled = true;
                    else
                        s.credit = add_credit(s.credit, req.credit_grant().chunks(), options.max_credit);
                }
                s.cv.notify_all();
                return;
            }
            default:  // snapshot or replay: parse_request admits nothing else
                break;
        }
        // Every table a request names must be readable by the client's
        // group; a transaction replay names none (it lists only the
        // group's tables, Stream::visible).
        std::string user_id;
        if (options.authorize || options.may_read) user_id = peer_user_id(body);
        if (options.authorize) {
            std::vector<std::pair<std::string, std::string>> names;
            if (req.has_snapshot()) {
                names.emplace_back(req.snapshot().schema_name(), req.snapshot().table_name());
                for (const auto& t : req.snapshot().more_tables()) names.emplace_back(t.schema_name(), t.table_name());
            } else if (!req.replay().transactions()) {
                names.emplace_back(req.replay().schema_name(), req.replay().table_name());
            }
            for (const auto& [schema, table] : names) {
                if (auto refusal = options.authorize(user_id, schema, table)) {
                    count_refusal(SyncStats::FORBIDDEN);
                    reply_error(identity, id, v1::FORBIDDEN, *refusal);
                    return;
                }
            }
        }
        if (streams.count(key)) {
            malformed(identity, id, "request_id " + std::to_string(id) + " is already in use");
            return;
        }
        if (auto busy = admit(identity)) {
            count_refusal(SyncStats::BUSY);
            reply_error(identity, id, v1::BUSY, *busy);
            return;
        }
        auto s = std::make_shared<Stream>();
        s->identity = identity;
        s->request_id = id;
        s->credit = req.credit() == 0 ? options.default_credit : std::min(req.credit(), options.max_credit);
        s->request = std::move(req);
        s->group = options.authorize || options.may_read ? user_id : options.group;
        if (options.may_read) {
            s->visible = [may_read = options.may_read, user_id](const std::string& schema, const std::string& table) {
                return may_read(user_id, schema, table);
            };
        }
        ++active;
        if (options.stats) SyncStats::add(options.stats->started[kind_of(s->request)]);
        s->worker = std::thread([this, s] { work(s); });
        streams.emplace(key, std::move(s));
    }

    // The body of a worker thread: one stream, then done.
    void work(const std::shared_ptr<Stream>& sp) {
        Stream& s = *sp;
        const auto& req = s.request;
        const auto what = req.has_snapshot() ? "snapshot" : "replay";
        const auto table = req.has_snapshot() ? req.snapshot().schema_name() + "." + req.snapshot().table_name()
                           : req.replay().transactions() ? std::string(".tx")
                                                         : req.replay().schema_name() + "." + req.replay().table_name();
        bool served = false;
        try {
            sync::StreamContext ctx2(ctx, inproc, options, durable, sp);
            try {
                if (req.has_snapshot())
                    sync::run_snapshot(ctx2);
                else
                    sync::run_replay(ctx2);
                served = true;
            } catch (const sync::StreamAborted& a) {
                if (a.preempted) {
                    spdlog::info("{} of {}: no credit for {} ms while another client waited, stream dropped", what,
                                 table, options.preempt_after.count());
                    ctx2.send_error(v1::TIMEOUT, "no credit for " + std::to_string(options.preempt_after.count()) +
                                                     " ms while other clients waited for a stream; stream dropped");
                } else if (a.timed_out) {
                    spdlog::warn("{} of {}: no credit for {} ms, stream dropped", what, table,
                                 options.idle_timeout.count());
                    ctx2.send_error(v1::TIMEOUT, "no credit for " + std::to_string(options.idle_timeout.count()) +
                                                     " ms; stream dropped");
                }
            } catch (const sync::TooLarge& e) {
                spdlog::warn("{} of {}: {}", what, table, e.what());
                ctx2.send_error(v1::TOO_LARGE, e.what());
            } catch (const ConnectionLost& e) {
                spdlog::warn("{} of {}: database unavailable: {}", what, table, describe(e));
                ctx2.send_error(v1::UNAVAILABLE, std::string("database unavailable: ") + e.what());
            } catch (const std::exception& e) {
                spdlog::warn("{} of {}: {}", what, table, describe(e));
                ctx2.send_error(v1::INTERNAL, e.what());
            }
        } catch (const std::exception& e) {
            spdlog::error("{} of {}: cannot reply: {}", what, table, describe(e));
        }
        if (options.stats) {
            auto& counters = served ? options.stats->served : options.stats->failed;
            SyncStats::add(counters[kind_of(req)]);
        }
        s.finished = true;
    }

    void cancel_stream(const std::string& identity, std::uint64_t id, const char* why) {
        auto it = streams.find({identity, id});
        if (it == streams.end()) return;
        {
            std::lock_guard lock(it->second->mutex);
            if (it->second->cancelled) return;
            it->second->cancelled = true;
        }
        spdlog::info("snapshot client {}: stream {} ended", why, id);
        it->second->cv.notify_all();
    }

    // Moves the workers' replies to the ROUTER; never blocks.
    void forward() {
        for (int n = 0; n < 1024; ++n) {
            zmq::message_t identity, id, body;
            if (!pull.recv(identity, zmq::recv_flags::dontwait)) return;
            if (!identity.more() || !pull.recv(id) || !id.more() || !pull.recv(body)) continue;
            try {
                if (router.send(identity, zmq::send_flags::sndmore | zmq::send_flags::dontwait))
                    (void)router.send(body, zmq::send_flags::dontwait);
                else
                    cancel_stream(identity.to_string(), read_id(id), "not reading (its queue is full)");
            } catch (const zmq::error_t& e) {
                cancel_stream(identity.to_string(), read_id(id), e.num() == EHOSTUNREACH ? "gone" : e.what());
            }
        }
    }

    void reap(bool all) {
        for (auto it = streams.begin(); it != streams.end();) {
            auto& s = *it->second;
            if (all) {
                {
                    std::lock_guard lock(s.mutex);
                    s.cancelled = true;
                }
                s.cv.notify_all();
            }
            if (all || s.finished) {
                if (s.worker.joinable()) s.worker.join();
                --active;
                it = streams.erase(it);
            } else {
                ++it;
            }
        }
    }

    void run() {
        std::string identity;
        std::size_t frames = 0;
        while (!stopping) {
            zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}, {pull.handle(), 0, ZMQ_POLLIN, 0}};
            try {
                zmq::poll(items, 2, std::chrono::milliseconds(100));
                if (items[1].revents & ZMQ_POLLIN) forward();
                // A bounded number of requests per round, so that a flood
                // of them does not hold up the replies of running streams.
                for (int n = 0; n < 256 && (items[0].revents & ZMQ_POLLIN); ++n) {
                    zmq::message_t body;
                    if (!receive(identity, body, frames)) break;
                    on_request(identity, body, frames);
                }
                reap(false);
            } catch (const std::exception& e) {
                spdlog::error("snapshot server: {}", describe(e));
            }
        }
        reap(true);
        forward();
    }
};

SyncServer::SyncServer(zmq::context_t& ctx, SyncServerOptions options)
    : impl_(std::make_unique<Impl>(ctx, std::move(options))) {}

SyncServer::~SyncServer() { stop(); }

void SyncServer::start() {
    if (impl_->thread.joinable()) return;
    impl_->stopping = false;
    impl_->thread = std::thread([this] { impl_->run(); });
}

void SyncServer::stop() noexcept {
    impl_->stopping = true;
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::size_t SyncServer::active_streams() const noexcept { return impl_->active; }

}  // namespace tablepub
