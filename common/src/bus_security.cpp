#include "common/bus_security.hpp"

#include <array>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "common/curve_keys.hpp"
#include "common/error.hpp"

namespace tablepub {

void apply_security(zmq::socket_t& socket, const EndpointSecurity& security) {
    // libzmq refuses an empty domain (and cannot unset one): sockets that
    // mix endpoints with and without a domain do not occur here.
    if (!security.zap_domain.empty()) socket.set(zmq::sockopt::zap_domain, security.zap_domain);
    if (security.curve_secret_key.empty()) {
        // Back to the NULL mechanism for what is bound next.
        socket.set(zmq::sockopt::curve_server, 0);
    } else {
        socket.set(zmq::sockopt::curve_secretkey, security.curve_secret_key);
        socket.set(zmq::sockopt::curve_server, 1);
    }
}

std::string peer_user_id(zmq::message_t& msg) {
    const char* v = zmq_msg_gets(msg.handle(), "User-Id");
    return v != nullptr ? std::string(v) : std::string();
}

CurveClient load_curve_client(const std::string& server_key_file, const std::string& client_key_file) {
    if (server_key_file.empty() != client_key_file.empty()) {
        throw ConfigError("CURVE needs both the relay's public key file and this client's secret key file");
    }
    if (server_key_file.empty()) return {};
    const auto mine = load_secret_key_file(client_key_file);
    return {load_public_key_file(server_key_file), mine.public_key, mine.secret_key};
}

void apply_curve_client(zmq::socket_t& socket, const CurveClient& curve) {
    if (curve.server_key.empty()) return;
    socket.set(zmq::sockopt::curve_serverkey, curve.server_key);
    socket.set(zmq::sockopt::curve_publickey, curve.public_key);
    socket.set(zmq::sockopt::curve_secretkey, curve.secret_key);
}

ZapHandler::ZapHandler(zmq::context_t& ctx, std::map<std::string, ZapDomain> domains)
    : ctx_(ctx), domains_(std::move(domains)), socket_(ctx, zmq::socket_type::rep) {
    socket_.set(zmq::sockopt::linger, 0);
    try {
        socket_.bind("inproc://zeromq.zap.01");
    } catch (const zmq::error_t& e) {
        throw ConfigError(std::string("cannot start the ZAP handler: ") + e.what());
    }
    thread_ = std::thread([this] { run(); });
}

ZapHandler::~ZapHandler() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void ZapHandler::watch(zmq::socket_t& socket, const std::string& label) {
    static std::atomic<unsigned> counter{0};
    const auto address = "inproc://tablepub-handshakes-" + std::to_string(++counter);
    if (zmq_socket_monitor(socket.handle(), address.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        throw ConfigError(std::string("cannot monitor the ") + label + " socket: " + zmq_strerror(zmq_errno()));
    }
    std::lock_guard lock(watch_mutex_);
    to_watch_.push_back({address, label});
}

void ZapHandler::on_monitor_event(zmq::socket_t& monitor, const std::string& label) {
    std::vector<zmq::message_t> ev;
    while (zmq::recv_multipart(monitor, std::back_inserter(ev), zmq::recv_flags::dontwait)) {
        if (ev.size() == 2 && ev[0].size() == 6) {
            std::uint16_t event = 0;
            std::uint32_t value = 0;
            std::memcpy(&event, ev[0].data(), sizeof event);
            std::memcpy(&value, static_cast<const char*>(ev[0].data()) + sizeof event, sizeof value);
            std::string why;
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
                why =
                    "the client's security mechanism does not match the endpoint's (a plain client on a CURVE "
                    "endpoint, or the reverse)";
            } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
                why = "the client's CURVE handshake does not decrypt (it has the wrong server key)";
            } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
                why = "protocol error " + std::to_string(value);
            } else {
                // Often a plain client on a CURVE endpoint that noticed the
                // mismatch first, or a port scanner.
                why =
                    std::string("the client left during the handshake (") + zmq_strerror(static_cast<int>(value)) + ")";
            }
            const auto endpoint = ev[1].to_string();
            if (const auto suppressed = limiter_.allow(label + '\n' + endpoint + '\n' + why)) {
                spdlog::warn(
                    "refused a client on {} ({}): {}{}", endpoint, label, why,
                    *suppressed == 0 ? "" : " (" + std::to_string(*suppressed) + " other refusals not logged)");
            }
        }
        ev.clear();
    }
}

void ZapHandler::run() {
    std::vector<std::pair<zmq::socket_t, std::string>> monitors;
    while (!stop_) {
        try {
            {
                std::lock_guard lock(watch_mutex_);
                for (const auto& w : to_watch_) {
                    zmq::socket_t m(ctx_, zmq::socket_type::pair);
                    m.set(zmq::sockopt::linger, 0);
                    m.connect(w.address);
                    monitors.emplace_back(std::move(m), w.label);
                }
                to_watch_.clear();
            }
            std::vector<zmq::pollitem_t> items{{socket_.handle(), 0, ZMQ_POLLIN, 0}};
            for (auto& [m, label] : monitors) items.push_back({m.handle(), 0, ZMQ_POLLIN, 0});
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
            if ((items[0].revents & ZMQ_POLLIN) != 0) answer();
            for (std::size_t i = 0; i < monitors.size(); ++i) {
                if ((items[i + 1].revents & ZMQ_POLLIN) != 0) on_monitor_event(monitors[i].first, monitors[i].second);
            }
        } catch (const zmq::error_t& e) {
            if (e.num() == ETERM) return;
            if (e.num() != EINTR) spdlog::error("ZAP handler: {}", e.what());
        }
    }
}

void ZapHandler::answer() {
    std::vector<zmq::message_t> req;
    if (!zmq::recv_multipart(socket_, std::back_inserter(req), zmq::recv_flags::dontwait)) return;
    std::string status = "400", text = "refused", user;
    std::string domain, address, mechanism, key;
    std::string why;
    // [version, request id, domain, address, routing id, mechanism, credentials...]
    if (req.size() < 6 || req[0].to_string_view() != "1.0") {
        status = "500";
        text = "malformed ZAP request";
        why = "malformed ZAP request";
    } else {
        domain = req[2].to_string();
        address = req[3].to_string();
        mechanism = req[5].to_string();
        const auto it = domains_.find(domain);
        if (it == domains_.end()) {
            why = "no such group";
        } else if (!it->second.curve) {
            if (mechanism == "NULL") {
                status = "200";
            } else {
                why = "the endpoint is plain";
            }
        } else if (mechanism != "CURVE" || req.size() != 7 || req[6].size() != 32) {
            why = "the endpoint requires CURVE";
        } else {
            std::array<char, 41> z85{};
            zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(req[6].data()), 32);
            key = std::string(z85.data(), 40);
            if (it->second.allowed.contains(key)) {
                status = "200";
            } else {
                why = "the key is not in the group's allow-list";
            }
        }
    }
    if (status == "200") {
        text = "OK";
        user = domain;
    } else if (const auto suppressed = limiter_.allow(domain + '\n' + address + '\n' + mechanism + '\n' + key)) {
        spdlog::warn("refused {} client {}{} on group \"{}\": {}{}", mechanism.empty() ? "a" : mechanism,
                     address.empty() ? "(no address)" : address, key.empty() ? "" : " with key " + key, domain, why,
                     *suppressed == 0 ? "" : " (" + std::to_string(*suppressed) + " other refusals not logged)");
    }
    const std::string request_id = req.size() > 1 ? req[1].to_string() : std::string();
    std::array<zmq::const_buffer, 6> reply = {zmq::buffer(std::string_view("1.0")),
                                              zmq::buffer(request_id),
                                              zmq::buffer(status),
                                              zmq::buffer(text),
                                              zmq::buffer(user),
                                              zmq::buffer(std::string_view())};
    zmq::send_multipart(socket_, reply);
}

}  // namespace tablepub
