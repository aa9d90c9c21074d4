#include "tablepub/sync_server.hpp"

#include <cstring>
#include <map>
#include <utility>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "tablepub/request_validation.hpp"
#include "stream.hpp"
#include "tablepub/error.hpp"

namespace tablepub {

using sync::Stream;

namespace {

std::atomic<unsigned> server_counter{0};

// Replies of a worker travel [identity, request_id (8 bytes), reply] over
// inproc; the server strips the request id (used if the client is gone).
std::uint64_t read_id(const zmq::message_t& m) noexcept
{
    std::uint64_t id = 0;
    if (m.size() == sizeof id) std::memcpy(&id, m.data(), sizeof id);
    return id;
}

}  // namespace

namespace sync {

StreamContext::StreamContext(zmq::context_t& ctx, const std::string& inproc,
                             const SyncServerOptions& options, Stream& stream)
    : options_(options), stream_(stream), push_(ctx, zmq::socket_type::push)
{
    push_.set(zmq::sockopt::linger, 0);
    push_.connect(inproc);
}

std::uint32_t StreamContext::chunk_rows() const noexcept
{
    const auto asked = stream_.request.max_chunk_rows();
    return asked != 0 && asked < options_.chunk_rows ? asked : options_.chunk_rows;
}

void StreamContext::send(const std::string& reply)
{
    std::uint64_t id = stream_.request_id;
    push_.send(zmq::buffer(stream_.identity), zmq::send_flags::sndmore);
    push_.send(zmq::buffer(&id, sizeof id), zmq::send_flags::sndmore);
    push_.send(zmq::buffer(reply), zmq::send_flags::none);
}

void StreamContext::send_error(v1::ErrorCode code, const std::string& message)
{
    v1::Reply r;
    r.set_request_id(stream_.request_id);
    r.mutable_error()->set_code(code);
    r.mutable_error()->set_message(message);
    send(r);
}

void StreamContext::take_credit()
{
    std::unique_lock lock(stream_.mutex);
    if (!stream_.cv.wait_for(lock, options_.idle_timeout,
                             [&] { return stream_.cancelled || stream_.credit > 0; }))
        throw StreamAborted{true};
    if (stream_.cancelled) throw StreamAborted{false};
    --stream_.credit;
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

    Impl(zmq::context_t& c, SyncServerOptions o)
        : ctx(c),
          options(std::move(o)),
          inproc("inproc://tablepub-sync-" + std::to_string(++server_counter)),
          router(c, zmq::socket_type::router),
          pull(c, zmq::socket_type::pull)
    {
        router.set(zmq::sockopt::linger, 0);
        // Refuse rather than silently drop what cannot be routed or queued.
        router.set(zmq::sockopt::router_mandatory, 1);
        const auto per_stream = static_cast<int>(options.max_credit) + 4;
        router.set(zmq::sockopt::sndhwm, per_stream * static_cast<int>(options.max_streams) + 64);
        if (!options.curve_secret_key.empty()) {
            router.set(zmq::sockopt::curve_server, 1);
            router.set(zmq::sockopt::curve_secretkey, options.curve_secret_key);
        }
        for (const auto& ep : options.endpoints) {
            try {
                router.bind(ep);
            } catch (const zmq::error_t& e) {
                throw ConfigError("cannot bind snapshot endpoint " + ep + ": " + e.what(), {}, ep);
            }
        }
        pull.set(zmq::sockopt::linger, 0);
        pull.bind(inproc);
    }

    void reply_error(const std::string& identity, std::uint64_t request_id, v1::ErrorCode code,
                     const std::string& message)
    {
        v1::Reply r;
        r.set_request_id(request_id);
        r.mutable_error()->set_code(code);
        r.mutable_error()->set_message(message);
        const auto bytes = r.SerializeAsString();
        try {
            router.send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
            router.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
            // The client is gone or not reading: nothing to tell it.
        }
    }

    void on_request(std::vector<zmq::message_t>& frames)
    {
        const std::string identity = frames[0].to_string();
        auto parsed = sync::parse_request(
            frames.size() - 1, frames.size() == 2 ? frames[1].to_string_view() : std::string_view());
        if (const auto* r = std::get_if<sync::Rejection>(&parsed)) {
            reply_error(identity, r->request_id, r->code, r->message);
            return;
        }
        auto& req = std::get<v1::Request>(parsed);
        const auto id = req.request_id();
        const auto key = std::make_pair(identity, id);
        if (req.has_credit_grant() || req.has_cancel()) {
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
                    s.credit = std::min(s.credit + req.credit_grant().chunks(), options.max_credit);
            }
            s.cv.notify_all();
            return;
        }
        if (streams.count(key)) {
            reply_error(identity, id, v1::MALFORMED_REQUEST,
                        "request_id " + std::to_string(id) + " is already in use");
            return;
        }
        if (active >= options.max_streams) {
            reply_error(identity, id, v1::BUSY,
                        "the relay serves its maximum of " + std::to_string(options.max_streams) +
                            " streams; retry later");
            return;
        }
        auto s = std::make_shared<Stream>();
        s->identity = identity;
        s->request_id = id;
        s->credit = req.credit() == 0 ? options.default_credit : std::min(req.credit(), options.max_credit);
        s->request = std::move(req);
        ++active;
        s->worker = std::thread([this, s] { work(*s); });
        streams.emplace(key, std::move(s));
    }

    // The body of a worker thread: one stream, then done.
    void work(Stream& s)
    {
        const auto& req = s.request;
        const auto what = req.has_snapshot() ? "snapshot" : "replay";
        const auto table = req.has_snapshot()
                               ? req.snapshot().schema_name() + "." + req.snapshot().table_name()
                               : req.replay().schema_name() + "." + req.replay().table_name();
        try {
            sync::StreamContext ctx2(ctx, inproc, options, s);
            try {
                if (req.has_snapshot())
                    sync::run_snapshot(ctx2);
                else
                    sync::run_replay(ctx2);
            } catch (const sync::StreamAborted& a) {
                if (a.timed_out) {
                    spdlog::warn("{} of {}: no credit for {} ms, stream dropped", what, table,
                                 options.idle_timeout.count());
                    ctx2.send_error(v1::TIMEOUT, "no credit for " +
                                                     std::to_string(options.idle_timeout.count()) +
                                                     " ms; stream dropped");
                }
            } catch (const ConnectionLost& e) {
                spdlog::warn("{} of {}: database unavailable: {}", what, table, e.what());
                ctx2.send_error(v1::UNAVAILABLE, std::string("database unavailable: ") + e.what());
            } catch (const std::exception& e) {
                spdlog::warn("{} of {}: {}", what, table, e.what());
                ctx2.send_error(v1::INTERNAL, e.what());
            }
        } catch (const std::exception& e) {
            spdlog::error("{} of {}: cannot reply: {}", what, table, e.what());
        }
        s.finished = true;
    }

    void forward()
    {
        std::vector<zmq::message_t> frames;
        while (true) {
            frames.clear();
            if (!zmq::recv_multipart(pull, std::back_inserter(frames), zmq::recv_flags::dontwait))
                return;
            if (frames.size() != 3) continue;
            const auto identity = frames[0].to_string();
            try {
                router.send(frames[0], zmq::send_flags::sndmore | zmq::send_flags::dontwait);
                router.send(frames[2], zmq::send_flags::dontwait);
            } catch (const zmq::error_t& e) {
                // Client gone (EHOSTUNREACH) or not reading beyond its credit.
                auto it = streams.find({identity, read_id(frames[1])});
                if (it != streams.end()) {
                    spdlog::info("snapshot client gone ({}): stream {} ended", e.what(),
                                 it->first.second);
                    std::lock_guard lock(it->second->mutex);
                    it->second->cancelled = true;
                    it->second->cv.notify_all();
                }
            }
        }
    }

    void reap(bool all)
    {
        for (auto it = streams.begin(); it != streams.end();) {
            auto& s = *it->second;
            if (all) {
                std::lock_guard lock(s.mutex);
                s.cancelled = true;
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

    void run()
    {
        std::vector<zmq::message_t> frames;
        while (!stopping) {
            zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0},
                                       {pull.handle(), 0, ZMQ_POLLIN, 0}};
            try {
                zmq::poll(items, 2, std::chrono::milliseconds(100));
                if (items[1].revents & ZMQ_POLLIN) forward();
                if (items[0].revents & ZMQ_POLLIN) {
                    frames.clear();
                    if (zmq::recv_multipart(router, std::back_inserter(frames), zmq::recv_flags::dontwait))
                        on_request(frames);
                }
                reap(false);
            } catch (const std::exception& e) {
                spdlog::error("snapshot server: {}", e.what());
            }
        }
        reap(true);
        forward();
    }
};

SyncServer::SyncServer(zmq::context_t& ctx, SyncServerOptions options)
    : impl_(std::make_unique<Impl>(ctx, std::move(options)))
{
}

SyncServer::~SyncServer() { stop(); }

void SyncServer::start()
{
    if (impl_->thread.joinable()) return;
    impl_->stopping = false;
    impl_->thread = std::thread([this] { impl_->run(); });
}

void SyncServer::stop() noexcept
{
    impl_->stopping = true;
    if (impl_->thread.joinable()) impl_->thread.join();
}

std::size_t SyncServer::active_streams() const noexcept { return impl_->active; }

}  // namespace tablepub
