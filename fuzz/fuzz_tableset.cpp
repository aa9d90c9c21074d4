// libFuzzer target: TableSetSync, the engine that keeps a set of tables in
// sync as one unit (docs/protocol.md section 9). Random protobuf bytes
// rarely form a multi-table snapshot or a Transaction whose ranges its
// messages fill, so most records are small op-codes from which the harness
// builds the messages (positions, seqs, txids and keys from a few values, so
// that they collide, repeat and go backwards); raw frames are fed too.
//
// Besides crashes it checks what the engine promises:
//   - the read view (every table's rows) changes only by a whole reported
//     transaction or a whole snapshot: a shadow copy, updated only from the
//     callbacks, equals the view after every record, and every change of a
//     reported transaction fits the shadow rows;
//   - reported positions increase; position() only goes back by a snapshot;
//   - live messages never grow the buffers beyond max_buffered, a replay
//     asks for at most max_buffered, and what a replay answer holds beyond
//     what was asked is not kept (the buffers stay within a few times
//     max_buffered whatever the relay sends).
//
// Input (fuzz_input.hpp): an options byte, then records (op byte % 15):
//   0 T LEN MESSAGE   a raw Message frame on topic T (a table, ".tx", other)
//   1 LEN REPLY       a raw Reply, steered to the pending request
//   2 POS IDX CNT SEQ SNAP   SnapshotBegin (steered)
//   3 N (OP K V)*N    SnapshotRows with N % 4 INSERT rows
//   4 BAD             SnapshotEnd with the rows counted since the last begin
//                     (off by one if BAD is odd)
//   5 T SEQ TX POS OP K K2 V   a table change message, live
//   6 POS TX N (T FIRST LAST)*N   a Transaction on ".tx", live
//   7 T SEQ MS        a heartbeat (T: a table, ".tx", or a table renamed)
//   8 N (K ...)*N     ReplayMessages with N % 4 messages, each as 6 (K odd)
//                     or 5, its seq moved into the last replay asked for
//                     when K & 2
//   9                 ReplayEnd
//   10 CODE           an Error reply
//   11 MS             time passes (MS x 64 ms), then tick()
//   12                take_request()
//   13                the pending request times out
//   14 T SEQ TX POS   a SCHEMA change message (columns from TX), live
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "tablepub.pb.h"
#include "tablepub/table_set_sync.hpp"

namespace {

using tablepub::Mirror;
using tablepub::TableSetSync;
using tablepub::fuzz::check;
namespace v1 = tablepub::v1;

const std::vector<std::string> set_tables = {"public.a", "public.b"};

std::string topic(std::uint8_t b, std::size_t n_tables) {
    switch (b % 4) {
        case 0: return set_tables[0];
        case 1: return n_tables > 1 ? set_tables[1] : "public.c";
        case 2: return tablepub::transaction_topic;
        default: return "public.c";
    }
}

void split(const std::string& t, std::string& schema, std::string& table) {
    const auto dot = t.find('.');
    schema = t.substr(0, dot);
    table = t.substr(dot + 1);
}

void set_int(v1::Column* c, const char* name, std::int64_t v) {
    c->set_name(name);
    c->mutable_value()->set_integer(v);
}

// id (key), v, and w unless `narrow`; a bit of `variant` changes w's type.
v1::TableSchema make_schema(const std::string& t, std::uint8_t variant) {
    v1::TableSchema s;
    split(t, *s.mutable_schema_name(), *s.mutable_table_name());
    auto add = [&](const char* name, std::uint32_t oid, std::uint32_t key) {
        auto* c = s.add_columns();
        c->set_name(name);
        c->set_type_oid(oid);
        c->set_key_position(key);
    };
    add("id", 23, 1);
    if ((variant & 1) == 0) add("v", 23, 0);
    if ((variant & 2) == 0) add("w", (variant & 4) ? 25 : 23, 0);
    return s;
}

void make_change(tablepub::fuzz::Input& in, v1::Change& ch) {
    const unsigned op = in.byte() % 5u;
    const unsigned k = in.byte() % 6u, k2 = in.byte() % 6u, v = in.byte();
    ch.set_op(op == 0 ? v1::INSERT : op == 1 ? v1::UPDATE : op == 2 ? v1::DELETE : op == 3 ? v1::TRUNCATE : v1::INSERT);
    if (ch.op() == v1::TRUNCATE) return;
    set_int(ch.add_key(), "id", k);
    if (ch.op() == v1::UPDATE && k2 != k && (v & 1)) set_int(ch.add_old_key(), "id", k2);
    if (ch.op() != v1::DELETE) {
        set_int(ch.add_values(), "id", k);
        set_int(ch.add_values(), "v", v);
        set_int(ch.add_values(), "w", k2);
    }
}

// A table change message (op 5) or a Transaction (op 6), read from the input.
v1::Message make_message(tablepub::fuzz::Input& in, bool transaction, std::string& where, std::size_t n_tables) {
    v1::Message m;
    if (transaction) {
        m.set_seq(in.byte());
        m.set_txid(100 + in.byte() % 8);
        m.set_commit_time(1'000'000 + m.seq());
        const unsigned n = in.byte() % 4u;
        auto* tx = m.mutable_transaction();
        for (unsigned i = 0; i < n; ++i) {
            auto* r = tx->add_tables();
            const std::uint8_t t = in.byte() % 3;
            split(topic(t == 2 ? std::uint8_t{3} : t, n_tables), *r->mutable_schema_name(), *r->mutable_table_name());
            r->set_first_seq(in.byte());
            r->set_last_seq(r->first_seq() + in.byte() % 4);
        }
        where = tablepub::transaction_topic;
        return m;
    }
    where = topic(in.byte() & 1 ? 1 : 0, n_tables);
    split(where, *m.mutable_schema_name(), *m.mutable_table_name());
    m.set_seq(in.byte());
    m.set_txid(100 + in.byte() % 8);
    m.set_position(in.byte());
    make_change(in, *m.mutable_change());
    return m;
}

// A canonical text of a table's rows.
std::string fingerprint(const Mirror& m) {
    std::vector<std::string> rows;
    m.for_each([&](const Mirror::Row& row) {
        std::string s;
        for (const auto& [name, value] : row) s += name + '=' + value.SerializeAsString() + ';';
        rows.push_back(std::move(s));
    });
    std::sort(rows.begin(), rows.end());
    std::string out;
    for (auto& r : rows) out += r + '\n';
    return out;
}

struct Shadow {
    std::map<std::string, Mirror> mirrors;
    std::map<std::string, v1::TableSchema> schemas;
};

void copy_view(const TableSetSync& sync, Shadow& shadow) {
    for (const auto& t : sync.tables()) {
        shadow.mirrors[t] = *sync.mirror(t);
        shadow.schemas[t] = *sync.schema(t);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tablepub::fuzz::Input in(data, size);
    const auto flags = in.byte();
    tablepub::SetOptions options;
    options.max_buffered = (flags & 1) ? 4 : 64;
    options.max_replay_attempts = 1 + ((flags >> 1) & 3);
    options.regression_heartbeats = 1 + ((flags >> 3) & 3);
    const std::size_t n_tables = (flags & 32) ? 1 : 2;
    std::vector<std::string> names(set_tables.begin(), set_tables.begin() + static_cast<std::ptrdiff_t>(n_tables));

    Shadow shadow;
    bool view_event = false;          // a callback changed the view during this record
    std::uint64_t last_reported = 0;  // position of the last transaction or snapshot reported
    const TableSetSync* engine = nullptr;
    tablepub::SetSyncCallbacks cb;
    cb.on_snapshot = [&](std::uint64_t position) {
        check(engine->position() == position && engine->snapshot_position() == position,
              "on_snapshot position differs from position()");
        copy_view(*engine, shadow);
        last_reported = position;
        view_event = true;
    };
    cb.on_transaction = [&](const tablepub::SetWireTransaction& tx) {
        check(tx.position > last_reported, "a transaction reported at or below the previous position");
        check(tx.position > engine->snapshot_position(), "a transaction the snapshot contains was reported");
        check(!tx.changes.empty(), "an empty transaction was reported");
        bool schema_change = false;
        for (const auto& [table, m] : tx.changes) {
            check(shadow.mirrors.count(table) == 1, "a change of a table outside the set was reported");
            check(m.txid() == tx.txid, "a change of another transaction was reported");
            if (m.change().op() == v1::SCHEMA) {
                schema_change = true;
                continue;
            }
            const auto r = shadow.mirrors[table].apply(m.change());
            check(r == Mirror::Apply::ok || r == Mirror::Apply::not_data, "a reported change does not fit the rows");
        }
        // Column drops follow the engine's schema bookkeeping; take its view.
        if (schema_change) copy_view(*engine, shadow);
        for (const auto& t : engine->tables())
            check(fingerprint(shadow.mirrors[t]) == fingerprint(*engine->mirror(t)),
                  "the view differs from the previous view plus the reported transaction");
        last_reported = tx.position;
        view_event = true;
    };
    TableSetSync sync(names, options, cb);
    engine = &sync;
    copy_view(sync, shadow);
    auto now = TableSetSync::Clock::time_point{};
    sync.start(now);

    std::uint64_t rows_sent = 0;
    std::uint64_t asked_from = 1, asked_to = 0;  // the last replay taken (op 12)
    while (!in.empty()) {
        const auto op = in.byte() % 15;
        const auto buffered_before = sync.buffered();
        const auto position_before = sync.position();
        bool live = false;
        view_event = false;
        v1::Reply reply;
        reply.set_request_id(sync.pending_request_id());
        switch (op) {
            case 0: {
                const auto t = topic(in.byte(), n_tables);
                const auto frame = in.frame();
                v1::Message msg;
                if (!msg.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) break;
                live = true;
                sync.on_message(t, msg, now);
                break;
            }
            case 1: {
                const auto frame = in.frame();
                if (!reply.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) break;
                reply.set_request_id(sync.pending_request_id());
                sync.on_reply(reply, now);
                break;
            }
            case 2: {
                auto* b = reply.mutable_snapshot_begin();
                b->set_position(in.byte());
                const auto idx = in.byte();
                b->set_table_index(idx < 200 ? idx % 3 : idx);
                const auto cnt = in.byte();
                b->set_table_count(cnt < 200 ? static_cast<std::uint32_t>(n_tables) : cnt % 4);
                b->set_seq(in.byte());
                const auto snap = in.byte();
                b->set_xmin(100 + snap % 4);
                b->set_xmax(100 + snap % 4 + (snap >> 2) % 4);
                if (snap & 64) b->add_xip(b->xmin());
                if (b->table_index() < n_tables) {
                    const auto& t = names[b->table_index()];
                    split(t, *b->mutable_schema_name(), *b->mutable_table_name());
                    *b->mutable_schema() = make_schema(t, 0);
                }
                rows_sent = 0;
                sync.on_reply(reply, now);
                break;
            }
            case 3: {
                const unsigned n = in.byte() % 4u;
                for (unsigned i = 0; i < n; ++i) {
                    auto* row = reply.mutable_snapshot_rows()->add_rows();
                    make_change(in, *row);
                    row->set_op(v1::INSERT);
                    if (row->key().empty()) set_int(row->add_key(), "id", i);
                }
                rows_sent += n;
                sync.on_reply(reply, now);
                break;
            }
            case 4:
                reply.mutable_snapshot_end()->set_row_count(rows_sent + (in.byte() & 1));
                sync.on_reply(reply, now);
                break;
            case 5:
            case 6: {
                std::string where;
                const auto m = make_message(in, op == 6, where, n_tables);
                live = true;
                sync.on_message(where, m, now);
                break;
            }
            case 7: {
                const auto which = in.byte();
                v1::Message m;
                m.set_seq(in.byte());
                m.mutable_heartbeat()->set_interval_ms(64 + 64 * (in.byte() % 4));
                if (which & 4) m.mutable_heartbeat()->set_moved_to_table("z");
                live = true;
                sync.on_message(topic(which, n_tables), m, now);
                break;
            }
            case 8: {
                const unsigned n = in.byte() % 4u;
                for (unsigned i = 0; i < n; ++i) {
                    std::string where;
                    const auto kind = in.byte();
                    auto* m = reply.mutable_replay_messages()->add_messages();
                    *m = make_message(in, kind & 1, where, n_tables);
                    // Mostly within what the replay asked (the rest is
                    // ignored by the engine), sometimes anywhere.
                    if ((kind & 2) && asked_to >= asked_from)
                        m->set_seq(asked_from + m->seq() % (asked_to - asked_from + 1));
                }
                sync.on_reply(reply, now);
                break;
            }
            case 9:
                reply.mutable_replay_end();
                sync.on_reply(reply, now);
                break;
            case 10: {
                const auto code = in.byte() % 15;
                reply.mutable_error()->set_code(static_cast<v1::ErrorCode>(code));
                sync.on_reply(reply, now);
                break;
            }
            case 11:
                now += std::chrono::milliseconds(64 * in.byte());
                sync.tick(now);
                break;
            case 12: {
                const auto req = sync.take_request();
                if (!req || !req->has_replay()) break;
                const auto& r = req->replay();
                check(r.to_seq() >= r.from_seq() && r.from_seq() > 0, "a replay of an empty range");
                const auto span = r.to_seq() - r.from_seq() + 1;
                asked_from = r.from_seq();
                asked_to = r.to_seq();
                // A transaction with more seqs than max_buffered resyncs
                // the set instead of being fetched.
                check(span <= options.max_buffered, "a replay asks for more than max_buffered");
                break;
            }
            case 13: sync.on_request_failed(sync.pending_request_id(), "timeout", now); break;
            case 14: {
                const auto t = topic(in.byte() & 1, n_tables);
                v1::Message m;
                split(t, *m.mutable_schema_name(), *m.mutable_table_name());
                m.set_seq(in.byte());
                const auto txb = in.byte();
                m.set_txid(100 + txb % 8);
                m.set_position(in.byte());
                m.mutable_change()->set_op(v1::SCHEMA);
                *m.mutable_change()->mutable_schema() = make_schema(t, txb >> 3);
                live = true;
                sync.on_message(t, m, now);
                break;
            }
        }

        if (!view_event) check(sync.position() >= position_before, "position() went back without a snapshot");
        check(!live || sync.buffered() <= buffered_before || sync.buffered() <= options.max_buffered,
              "a live message grew the buffers beyond max_buffered");
        // Replayed messages are never dropped, but only what was asked is
        // held and one replay asks for at most max_buffered: live ones up
        // to max_buffered, then per stream (".tx" and each table) what
        // the replay in progress and the one before it brought.
        check(sync.buffered() <= (2 * n_tables + 3) * options.max_buffered,
              "the buffers grew beyond a few times max_buffered");
        for (const auto& t : names)
            check(fingerprint(shadow.mirrors[t]) == fingerprint(*sync.mirror(t)),
                  "the view changed without a reported transaction or snapshot");
        check(sync.latest_position() >= sync.position(), "latest_position() below position()");
        check(sync.lag() == (sync.latest_position() > sync.position() ? sync.latest_position() - sync.position() : 0),
              "lag() differs from latest_position() - position()");
        (void)sync.stale(now);
    }
    return 0;
}
