// Encode cost per message of the relay's envelopes: the one encoder
// (relay wire.hpp, reply_encoding.hpp) against generated protobuf code with
// the payloads declared as bytes (envelope_bytes.proto). Both produce the
// same bytes (checked first); runs alternate A and B so that a noisy
// machine hurts both alike. Prints ns per message (or 128-row chunk).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "envelope_bytes.pb.h"
#include "tablepub.pb.h"
// Built against this tree or, by bench/codec.sh --base, an older one from
// before the layout of issue 9.
#if __has_include("common/wire.hpp")
#include "common/wire.hpp"
#include "sync/reply_encoding.hpp"
#else
#include "tablepub/reply_encoding.hpp"
#include "tablepub/wire.hpp"
#endif

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = tablepub::v1;

// A typical captured UPDATE: key plus four changed columns (~150 bytes).
std::string sample_change(int i) {
    v1::Change c;
    c.set_op(v1::UPDATE);
    auto* k = c.add_key();
    k->set_name("id");
    k->mutable_value()->set_integer(1000000 + i);
    const char* names[] = {"hostname", "vm_state", "task_state", "updated_at"};
    for (const char* n : names) {
        auto* col = c.add_values();
        col->set_name(n);
        col->mutable_value()->set_text(std::string(n) + "-value-" + std::to_string(i));
    }
    return c.SerializeAsString();
}

// Sequencer::emit's small-change path: envelope, then the change appended.
void encoder_message(std::string& out, const std::string& change, std::uint64_t seq) {
    out.clear();
    const tablepub::MessageHeader h{"public", "instances", seq, 1'000'000'000 + seq / 4, (seq & 3) == 3, 17};
    tablepub::encode_message_envelope(out, h, change.size());
    out.append(change);
}

void generated_message(tablepub::bench::MessageBytes& m, std::string& out, const std::string& change,
                       std::uint64_t seq) {
    m.set_schema_name("public");
    m.set_table_name("instances");
    m.set_seq(seq);
    m.set_txid(1'000'000'000 + seq / 4);
    m.set_tx_last((seq & 3) == 3);
    m.set_schema_seq(17);
    m.set_change(change);
    out.clear();
    m.SerializeToString(&out);
}

std::string encoder_chunk(const std::vector<std::string>& rows, std::uint64_t id) {
    tablepub::ChunkEncoder enc(tablepub::ChunkEncoder::Kind::snapshot_rows, id);
    for (const auto& r : rows) enc.add(r);
    return enc.finish();
}

std::string generated_chunk(const std::vector<std::string>& rows, std::uint64_t id) {
    tablepub::bench::ReplyBytes r;
    r.set_request_id(id);
    auto* s = r.mutable_snapshot_rows();
    for (const auto& row : rows) s->add_rows(row);
    return r.SerializeAsString();
}

template <class F>
double ns_per(int n, F&& f) {
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) f(i);
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
    const int messages = 2'000'000, chunks = 20'000;
    std::vector<std::string> changes;
    for (int i = 0; i < 64; ++i) changes.push_back(sample_change(i));
    std::vector<std::string> rows(changes.begin(), changes.end());
    rows.insert(rows.end(), changes.begin(), changes.end());  // 128 rows a chunk

    // Same bytes, or the comparison means nothing.
    std::string a, b;
    tablepub::bench::MessageBytes m;
    for (std::uint64_t seq : {0ULL, 1ULL, 127ULL, 128ULL, 1ULL << 40}) {
        encoder_message(a, changes[0], seq);
        generated_message(m, b, changes[0], seq);
        if (a != b) return std::puts("message encodings differ"), 1;
        v1::Message parsed;
        if (!parsed.ParseFromString(a) || parsed.change().SerializeAsString() != changes[0])
            return std::puts("not a Message"), 1;
    }
    for (std::uint64_t id : {1ULL, 300ULL, ~0ULL})
        if (encoder_chunk(rows, id) != generated_chunk(rows, id)) return std::puts("chunk encodings differ"), 1;

    // Each figure is the best of 5 alternating runs: on a shared machine
    // the minimum is the run the others disturbed least.
    std::printf("round  message_encoder_ns  message_generated_ns  chunk128_encoder_ns  chunk128_generated_ns\n");
    std::size_t sink = 0;
    for (int r = 0; r < rounds; ++r) {
        double me = 1e18, mg = 1e18, ce = 1e18, cg = 1e18;
        for (int rep = 0; rep < 5; ++rep) {
            me = std::min(me, ns_per(messages / 5, [&](int i) {
                              encoder_message(a, changes[i & 63], static_cast<std::uint64_t>(i));
                              sink += a.size();
                          }));
            mg = std::min(mg, ns_per(messages / 5, [&](int i) {
                              generated_message(m, b, changes[i & 63], static_cast<std::uint64_t>(i));
                              sink += b.size();
                          }));
            ce = std::min(ce, ns_per(chunks / 5, [&](int i) {
                              sink += encoder_chunk(rows, static_cast<std::uint64_t>(i)).size();
                          }));
            cg = std::min(cg, ns_per(chunks / 5, [&](int i) {
                              sink += generated_chunk(rows, static_cast<std::uint64_t>(i)).size();
                          }));
        }
        std::printf("%5d  %18.1f  %20.1f  %19.0f  %21.0f\n", r + 1, me, mg, ce, cg);
    }
    return rounds > 0 && sink == 0 ? 1 : 0;
}
