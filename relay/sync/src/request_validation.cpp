#include "tablepub/request_validation.hpp"

#include <limits>

namespace tablepub::sync {

std::variant<v1::Request, Rejection> parse_request(std::size_t frames, std::string_view body)
{
    if (frames != 1)
        return Rejection{0, v1::MALFORMED_REQUEST,
                         "a request is one frame (a serialized tablepub.v1.Request), got " +
                             std::to_string(frames)};
    v1::Request req;
    // protobuf takes an int size: a larger frame must not wrap to a small one.
    if (body.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        !req.ParseFromArray(body.data(), static_cast<int>(body.size())))
        return Rejection{0, v1::MALFORMED_REQUEST, "the frame is not a tablepub.v1.Request"};
    const auto id = req.request_id();
    if (id == 0) return Rejection{0, v1::MALFORMED_REQUEST, "request_id must not be 0"};
    switch (req.kind_case()) {
    case v1::Request::kCreditGrant:
    case v1::Request::kCancel:
        return req;
    case v1::Request::kSnapshot:
    case v1::Request::kReplay:
        break;
    default:
        return Rejection{id, v1::MALFORMED_REQUEST, "the request has no kind"};
    }
    const bool snapshot = req.has_snapshot();
    const auto& schema_name = snapshot ? req.snapshot().schema_name() : req.replay().schema_name();
    const auto& table_name = snapshot ? req.snapshot().table_name() : req.replay().table_name();
    if (schema_name.empty() || table_name.empty())
        return Rejection{id, v1::MALFORMED_REQUEST, "schema_name and table_name are required"};
    if (!snapshot && req.replay().from_seq() == 0)
        return Rejection{id, v1::MALFORMED_REQUEST, "replay from_seq must be at least 1"};
    return req;
}

}  // namespace tablepub::sync
