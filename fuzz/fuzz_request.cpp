// libFuzzer target: the relay's snapshot endpoint from the frame a client
// sends up to the first database call: parse and validate the Request
// (sync::parse_request, as SyncServer runs it), then build what the stream
// worker sends to PostgreSQL as parameters (the projection's array literal).
//
// Input (fuzz_input.hpp): records of a frame count byte and a frame:
//   COUNT LEN BODY   a client message of COUNT % 4 frames, BODY the first
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "sync/request_validation.hpp"

#include "fuzz_input.hpp"
#include "relay/state_store.hpp"

namespace {

using tablepub::fuzz::check;
namespace v1 = tablepub::v1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tablepub::fuzz::Input in(data, size);
    std::size_t built = 0;
    while (!in.empty()) {
        const std::size_t frames = in.byte() % 4;
        const auto body = in.frame();
        auto parsed = tablepub::sync::parse_request(frames, body);
        if (const auto* r = std::get_if<tablepub::sync::Rejection>(&parsed)) {
            check(!r->message.empty(), "a rejection without a message");
            check(r->code != v1::ERROR_UNSPECIFIED, "a rejection without a code");
            continue;
        }
        const auto& req = std::get<v1::Request>(parsed);
        check(frames == 1, "accepted a request of several frames");
        check(req.request_id() != 0, "accepted request_id 0");
        if (req.has_snapshot()) {
            const auto& s = req.snapshot();
            check(!s.schema_name().empty() && !s.table_name().empty(), "accepted an empty name");
            for (const auto& t : s.more_tables())
                check(!t.schema_name().empty() && !t.table_name().empty(), "accepted an empty name in more_tables");
            const std::vector<std::string> projection(s.columns().begin(), s.columns().end());
            built += tablepub::pg_array_literal(projection).size();
        } else if (req.has_replay()) {
            const auto& r = req.replay();
            // A replay of the transaction topic ".tx" names no table.
            if (r.transactions())
                check(r.schema_name().empty() && r.table_name().empty(), "accepted a table in a .tx replay");
            else
                check(!r.schema_name().empty() && !r.table_name().empty(), "accepted an empty name");
            check(r.from_seq() != 0, "accepted replay from_seq 0");
        } else {
            check(req.has_credit_grant() || req.has_cancel(), "accepted a request without a kind");
        }
    }
    return built == SIZE_MAX ? 1 : 0;
}
