#include "sync/request_validation.hpp"

#include <limits>

#include "sync/request_limits.hpp"

namespace tablepub::sync {

std::variant<v1::Request, Rejection> parse_request(std::size_t frames, std::string_view body) {
    if (frames != 1)
        return Rejection{0, v1::MALFORMED_REQUEST,
                         "a request is one frame (a serialized tablepub.v1.Request), got " + std::to_string(frames)};
    // ZMQ_MAXMSGSIZE keeps larger frames out already; this keeps the check
    // independent of the socket options.
    if (body.size() > MAX_REQUEST_BYTES)
        return Rejection{0, v1::MALFORMED_REQUEST,
                         "a request is at most " + std::to_string(MAX_REQUEST_BYTES) + " bytes"};
    v1::Request req;
    // protobuf takes an int size: a larger frame must not wrap to a small one.
    if (body.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        !req.ParseFromArray(body.data(), static_cast<int>(body.size())))
        return Rejection{0, v1::MALFORMED_REQUEST, "the frame is not a tablepub.v1.Request"};
    const auto id = req.request_id();
    if (id == 0) return Rejection{0, v1::MALFORMED_REQUEST, "request_id must not be 0"};
    switch (req.kind_case()) {
        case v1::Request::kCreditGrant:
        case v1::Request::kCancel: return req;
        case v1::Request::kSnapshot:
        case v1::Request::kReplay: break;
        default: return Rejection{id, v1::MALFORMED_REQUEST, "the request has no kind"};
    }
    // Names, projections and seqs within bounds (request_limits.hpp).
    if (auto problem = request_problem(req)) return Rejection{id, v1::MALFORMED_REQUEST, std::move(*problem)};
    return req;
}

}  // namespace tablepub::sync
