// Builders for protobuf messages in the tests.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tablepub.pb.h"

namespace testutil {

namespace v1 = tablepub::v1;

inline v1::Value ival(std::int64_t v) {
    v1::Value x;
    x.set_integer(v);
    return x;
}
inline v1::Value tval(const std::string& v) {
    v1::Value x;
    x.set_text(v);
    return x;
}
inline v1::Value nullval() {
    v1::Value x;
    x.set_null(v1::NULL_VALUE);
    return x;
}

using Cols = std::vector<std::pair<std::string, v1::Value>>;

inline void fill(google::protobuf::RepeatedPtrField<v1::Column>* out, const Cols& cols) {
    for (const auto& [n, v] : cols) {
        auto* c = out->Add();
        c->set_name(n);
        *c->mutable_value() = v;
    }
}

// Table "public.t" (id int primary key, v text).
inline v1::Change insert(std::int64_t id, const std::string& v) {
    v1::Change c;
    c.set_op(v1::INSERT);
    fill(c.mutable_key(), {{"id", ival(id)}});
    fill(c.mutable_values(), {{"id", ival(id)}, {"v", tval(v)}});
    return c;
}
inline v1::Change update(std::int64_t id, const std::string& v, std::int64_t old_id = 0) {
    v1::Change c;
    c.set_op(v1::UPDATE);
    fill(c.mutable_key(), {{"id", ival(id)}});
    if (old_id) fill(c.mutable_old_key(), {{"id", ival(old_id)}});
    if (!v.empty()) fill(c.mutable_values(), {{"v", tval(v)}});
    return c;
}
inline v1::Change del(std::int64_t id) {
    v1::Change c;
    c.set_op(v1::DELETE);
    fill(c.mutable_key(), {{"id", ival(id)}});
    return c;
}
inline v1::Change truncate() {
    v1::Change c;
    c.set_op(v1::TRUNCATE);
    return c;
}

inline v1::TableSchema schema(bool with_w = false) {
    v1::TableSchema s;
    s.set_schema_name("public");
    s.set_table_name("t");
    auto* id = s.add_columns();
    id->set_name("id");
    id->set_type("integer");
    id->set_type_oid(23);
    id->set_not_null(true);
    id->set_key_position(1);
    auto* v = s.add_columns();
    v->set_name("v");
    v->set_type("text");
    v->set_type_oid(25);
    if (with_w) {
        auto* w = s.add_columns();
        w->set_name("w");
        w->set_type("text");
        w->set_type_oid(25);
    }
    return s;
}

inline v1::Message msg(std::uint64_t seq, std::uint64_t txid, v1::Change change, bool tx_last = true) {
    v1::Message m;
    m.set_schema_name("public");
    m.set_table_name("t");
    m.set_seq(seq);
    m.set_txid(txid);
    m.set_tx_last(tx_last);
    m.set_schema_seq(1);
    *m.mutable_change() = std::move(change);
    return m;
}
inline v1::Message schema_msg(std::uint64_t seq, std::uint64_t txid, const v1::TableSchema& s) {
    v1::Change c;
    c.set_op(v1::SCHEMA);
    *c.mutable_schema() = s;
    return msg(seq, txid, std::move(c));
}
inline v1::Message heartbeat(std::uint64_t seq, std::uint64_t interval_ms = 1000) {
    v1::Message m;
    m.set_schema_name("public");
    m.set_table_name("t");
    m.set_seq(seq);
    m.mutable_heartbeat()->set_interval_ms(interval_ms);
    return m;
}

// What a relay answers to a replay request: ReplayBegin at its from_seq,
// one chunk with `msgs`, ReplayEnd with their count.
inline std::vector<v1::Reply> replay_replies(const v1::Request& req, const std::vector<v1::Message>& msgs) {
    std::vector<v1::Reply> out(3);
    for (auto& r : out) r.set_request_id(req.request_id());
    out[0].mutable_replay_begin()->set_from_seq(req.replay().from_seq());
    for (const auto& m : msgs) *out[1].mutable_replay_messages()->add_messages() = m;
    out[2].mutable_replay_end()->set_message_count(msgs.size());
    return out;
}

}  // namespace testutil
