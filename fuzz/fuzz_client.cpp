// libFuzzer target: the subscriber side's handling of what arrives from the
// network. Feeds TableSync (the C++ library's per-table state machine, with
// its Mirror) arbitrary Message and Reply frames, interleaved with time,
// timeouts and request turnover, and prints what it applies the way
// tablepub-tail does. Replies may be steered to the request in progress so
// that sequences of valid but hostile replies reach the deep states.
//
// Input (fuzz_input.hpp): an options byte, then records:
//   0 LEN MESSAGE   a frame from the PUB socket
//   1 LEN REPLY     a reply, its request_id set to the pending request's
//   2 LEN REPLY     a reply as it is
//   3 MS            time passes (MS x 16 ms), then tick()
//   4               take_request()
//   5               the pending request times out
//   6               print the mirror (tablepub-tail --mirror; twice at most)
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "tablepub.pb.h"
#include "tablepub/table_sync.hpp"
#include "tail/tail_format.hpp"
#include "tail/tail_mirror.hpp"

namespace {

using tablepub::TableSync;
using tablepub::fuzz::check;
namespace v1 = tablepub::v1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tablepub::fuzz::Input in(data, size);
    const auto flags = in.byte();
    tablepub::SyncOptions options;
    options.keep_mirror = (flags & 1) == 0;
    options.resync_on_anomaly = (flags & 2) == 0;
    options.max_buffered = (flags & 4) ? 4 : 64;
    options.max_replay_attempts = 1 + ((flags >> 3) & 3);
    const auto bytes = (flags & 32) ? tablepub::BytesFormat::hex : tablepub::BytesFormat::base64;

    std::size_t printed = 0;
    tablepub::SyncCallbacks cb;
    cb.on_snapshot_row = [&](const std::string&, const v1::Change& row) {
        v1::Message m;
        *m.mutable_change() = row;
        printed += tablepub::message_json("public.t", m, bytes).size();
    };
    cb.on_change = [&](const std::string& table, const v1::Message& m) {
        printed += tablepub::message_json(table, m, bytes).size();
    };
    TableSync sync("public", "t", options, cb);
    auto now = TableSync::Clock::time_point{};
    unsigned dumps = 0;
    sync.start(now);

    while (!in.empty()) {
        const auto op = in.byte() % 7;
        switch (op) {
            case 0: {
                const auto frame = in.frame();
                v1::Message msg;
                if (msg.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
                    // The raw tail prints every message it receives.
                    printed += tablepub::message_json("public.t", msg, bytes).size();
                    sync.on_message(msg, now);
                }
                break;
            }
            case 1:
            case 2: {
                const bool steer = op == 1;
                const auto frame = in.frame();
                v1::Reply reply;
                if (!reply.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) break;
                if (steer) reply.set_request_id(sync.pending_request_id());
                sync.on_reply(reply, now);
                break;
            }
            case 3:
                now += std::chrono::milliseconds(16 * in.byte());
                sync.tick(now);
                break;
            case 4: (void)sync.take_request(); break;
            case 5: sync.on_request_failed(sync.pending_request_id(), "timeout", now); break;
            case 6:
                // Costs a pass over every row: a few per input are enough.
                if (++dumps > 2) break;
                for (const auto& line : tablepub::mirror_lines("public.t", sync.mirror(), sync.schema(), bytes))
                    printed += line.size();
                break;
        }
        check(sync.buffered() <= options.max_buffered, "buffer above max_buffered");
        check(options.keep_mirror || sync.mirror().empty(), "rows kept without keep_mirror");
        check(sync.state() != tablepub::SyncState::moved || sync.pending_request_id() == 0,
              "a moved table has a request in progress");
        (void)sync.stale(now);
    }
    return printed == SIZE_MAX ? 1 : 0;
}
