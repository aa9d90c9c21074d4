// CURVE settings shared by the subscribers (not installed).
#pragma once

#include <string>

#include <zmq.hpp>

namespace tablepub::detail {

// Checks the CURVE settings once, so that a typo fails the constructor
// instead of every connection attempt in silence; derives our public key
// from the secret one when it is not given. Throws std::invalid_argument.
void check_curve(const std::string& server_key, std::string& public_key, const std::string& secret_key);

// Sets the keys on a socket (nothing when server_key is empty: plain).
void apply_curve(zmq::socket_t& s, const std::string& server_key, const std::string& public_key,
                 const std::string& secret_key);

}  // namespace tablepub::detail
