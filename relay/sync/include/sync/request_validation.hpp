// The first step of the snapshot endpoint, apart from sockets and
// the database so that unit tests and the fuzzer can drive it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "tablepub.pb.h"

namespace tablepub::sync {

// Why a request is answered with an Error before any stream exists.
struct Rejection {
    std::uint64_t request_id = 0;  // 0 when the frame could not be parsed
    v1::ErrorCode code = v1::MALFORMED_REQUEST;
    std::string message;
};

// Parses the frames a client sent after its routing identity (`frames` of
// them; `body` is the first) and checks what needs no state: one frame, a
// Request, a non-zero request_id, a kind, and for snapshot and replay the
// table names and replay's from_seq. Credit and Cancel pass as they are.
[[nodiscard]] std::variant<v1::Request, Rejection> parse_request(std::size_t frames, std::string_view body);

}  // namespace tablepub::sync
