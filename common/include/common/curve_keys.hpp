// CURVE keys as text files. A key is 40 characters of Z85, as
// zmq_curve_keypair() prints it; a file holds it either alone on a line or
// in ZeroMQ's certificate format (`public-key = "..."`, `secret-key = "..."`,
// as CZMQ's zcert and pyzmq's zmq.auth.create_certificates() write it).
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace tablepub {

struct CurveKeyPair {
    std::string public_key;  // Z85
    std::string secret_key;  // Z85
};

// True for 40 characters of Z85 (a 32-byte key).
[[nodiscard]] bool is_z85_key(std::string_view text) noexcept;

// Reads a secret key file and derives its public key. Throws ConfigError
// (one line naming the file) when it is missing, unreadable, not a regular
// file, malformed, or readable by others: it must be owned by the current
// user with no group or world access (0600), or owned by root with no world
// access and no group write (0640), the rule PostgreSQL applies to its
// server key.
[[nodiscard]] CurveKeyPair load_secret_key_file(const std::string& path);

// Reads a public key file (a certificate's public key, or a bare key).
[[nodiscard]] std::string load_public_key_file(const std::string& path);

// An allow-list of client public keys: a directory (every *.key file in it,
// one public key each, as zmq.auth's certificate directories) or one file
// (every key in it, one a line). Throws ConfigError when it cannot be read,
// holds a malformed line or a secret key, or holds no key at all.
[[nodiscard]] std::set<std::string> load_allow_list(const std::string& path);

// A fresh key pair from libzmq (throws ConfigError without CURVE support).
[[nodiscard]] CurveKeyPair generate_key_pair();

// Writes base + ".key" (the public certificate, mode 0644) and base +
// ".key_secret" (public and secret key, mode 0600). Refuses to replace an
// existing file; throws ConfigError.
void write_key_pair(const std::string& base, const CurveKeyPair& keys);

}  // namespace tablepub
