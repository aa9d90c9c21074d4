// Who may connect to the relay's endpoints: ZeroMQ CURVE on the sockets and
// a ZAP handler (ZeroMQ RFC 27) that accepts only allow-listed client keys
// and names the group a connection belongs to (its User-Id).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/log_limiter.hpp"

namespace tablepub {

// The security of the endpoints a socket binds next: ZeroMQ applies
// security options at bind time, so one socket can bind a plain endpoint
// and a CURVE endpoint side by side.
struct EndpointSecurity {
    std::string zap_domain;        // non-empty: every connection is checked by the ZAP handler
    std::string curve_secret_key;  // Z85; non-empty: CURVE server, else plain (NULL)
};

// Sets the options for the endpoints bound after this call.
void apply_security(zmq::socket_t& socket, const EndpointSecurity& security);

// The User-Id the ZAP handler gave the peer that sent msg; empty when the
// connection was not checked by a ZAP handler.
[[nodiscard]] std::string peer_user_id(zmq::message_t& msg);

// A client's CURVE settings (Z85): the relay's public key and our key
// pair. Empty server_key: plain.
struct CurveClient {
    std::string server_key, public_key, secret_key;
};

// Loads a client's key files: the relay's public key file and our secret
// key file, both or neither (throws ConfigError naming the file).
[[nodiscard]] CurveClient load_curve_client(const std::string& server_key_file, const std::string& client_key_file);

// Sets CURVE on a client socket before it connects (nothing when plain).
void apply_curve_client(zmq::socket_t& socket, const CurveClient& curve);

// What the ZAP handler accepts under one domain (one group).
struct ZapDomain {
    bool curve = false;             // CURVE required; otherwise plain connections are accepted
    std::set<std::string> allowed;  // Z85 client public keys, when curve
};

// Answers ZAP requests of one ZeroMQ context, in a thread of its own: the
// relay's main loop spends long stretches in libpq calls and the snapshot
// service runs in its own context and thread, and a handshake must not wait
// for either. It accepts a connection when its domain is known and, for a
// CURVE domain, the client's key is in the domain's allow-list; the User-Id
// of an accepted connection is the domain (the group name). It logs one
// line per refused peer (at most one per peer and minute, 20 a minute in
// all). It must outlive every socket of the context that uses a ZAP domain:
// without a handler, libzmq lets every client in.
class ZapHandler {
public:
    // Binds inproc://zeromq.zap.01 in ctx (throws ConfigError when the
    // context already has a handler) and starts the thread.
    ZapHandler(zmq::context_t& ctx, std::map<std::string, ZapDomain> domains);
    ZapHandler(const ZapHandler&) = delete;
    ZapHandler& operator=(const ZapHandler&) = delete;
    ~ZapHandler();

    // Also logs (rate-limited) the handshakes on socket that fail before
    // the key check, which never reach the handler: a client without CURVE
    // on a CURVE endpoint (or the reverse), or with the wrong server key.
    // Call from the thread that owns the socket, before another uses it.
    void watch(zmq::socket_t& socket, const std::string& label);

private:
    struct Watched {
        std::string address;  // inproc endpoint of the socket's monitor
        std::string label;
    };

    void run();
    void answer();
    void on_monitor_event(zmq::socket_t& monitor, const std::string& label);

    zmq::context_t& ctx_;
    std::map<std::string, ZapDomain> domains_;
    zmq::socket_t socket_;
    LogLimiter limiter_;
    std::mutex watch_mutex_;
    std::vector<Watched> to_watch_;  // handed to the thread, which connects to them
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace tablepub
