#include "curve_keys.hpp"

#include <cstdint>
#include <stdexcept>

namespace tablepub::detail {

namespace {

bool is_z85_key(const std::string& k) {
    std::uint8_t raw[32];
    return k.size() == 40 && zmq_z85_decode(raw, k.c_str()) != nullptr;
}

}  // namespace

void check_curve(const std::string& server_key, std::string& public_key, const std::string& secret_key) {
    if (server_key.empty()) {
        if (!public_key.empty() || !secret_key.empty())
            throw std::invalid_argument("CURVE client keys given without the relay's public key (curve_server_key)");
        return;
    }
    if (!is_z85_key(server_key)) throw std::invalid_argument("curve_server_key is not a 40-character Z85 key");
    if (!is_z85_key(secret_key)) throw std::invalid_argument("curve_secret_key is not a 40-character Z85 key");
    char derived[41];
    if (zmq_curve_public(derived, secret_key.c_str()) != 0)
        throw std::invalid_argument(std::string("cannot use CURVE: ") + zmq_strerror(zmq_errno()));
    if (public_key.empty()) public_key = derived;
    if (public_key != derived) throw std::invalid_argument("curve_public_key does not belong to curve_secret_key");
}

void apply_curve(zmq::socket_t& s, const std::string& server_key, const std::string& public_key,
                 const std::string& secret_key) {
    if (server_key.empty()) return;
    s.set(zmq::sockopt::curve_serverkey, server_key);
    s.set(zmq::sockopt::curve_publickey, public_key);
    s.set(zmq::sockopt::curve_secretkey, secret_key);
}

}  // namespace tablepub::detail
