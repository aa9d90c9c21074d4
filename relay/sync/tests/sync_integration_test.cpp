// The snapshot and replay endpoint at the wire level (docs/protocol.md
// sections 5-7): the real relay with --snapshot, run as the least-privilege
// relay role, and a raw DEALER client. Names chosen to break naive SQL,
// replay across SCHEMA messages and renames, MOVED, row-level security.

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <map>
#include <optional>

#include "harness.hpp"

namespace tablepub::test {
namespace {

using namespace std::chrono_literals;

// One stream's replies: begin, the data (rows or messages), end or error.
struct Answer {
    std::optional<v1::Reply> begin;
    std::vector<v1::Change> rows;
    std::vector<std::string> messages;  // serialized Message, as replayed
    std::optional<v1::Reply> end;
    std::optional<v1::Error> error;
};

// A DEALER that runs one request at a time, granting credit per chunk.
class SyncClient {
public:
    explicit SyncClient(const std::string& endpoint) : sock_(ctx_, zmq::socket_type::dealer) {
        sock_.set(zmq::sockopt::linger, 0);
        sock_.set(zmq::sockopt::rcvtimeo, 20000);
        sock_.connect(endpoint);
    }

    Answer snapshot(const std::string& schema, const std::string& table, std::vector<std::string> columns = {}) {
        v1::Request r;
        r.set_request_id(++id_);
        r.set_credit(2);
        r.mutable_snapshot()->set_schema_name(schema);
        r.mutable_snapshot()->set_table_name(table);
        for (auto& c : columns) r.mutable_snapshot()->add_columns(c);
        return run(r);
    }

    Answer replay(const std::string& schema, const std::string& table, std::uint64_t from, std::uint64_t to = 0) {
        v1::Request r;
        r.set_request_id(++id_);
        r.set_credit(2);
        r.set_max_chunk_rows(3);
        r.mutable_replay()->set_schema_name(schema);
        r.mutable_replay()->set_table_name(table);
        r.mutable_replay()->set_from_seq(from);
        r.mutable_replay()->set_to_seq(to);
        return run(r);
    }

    // One table of a multi-table snapshot as received.
    struct Table {
        v1::SnapshotBegin begin;
        std::vector<v1::Change> rows;
        std::uint64_t row_count = 0;
    };
    // A snapshot of several tables (schema, table): each table's part, or
    // the error (and then nothing must have come before it).
    std::vector<Table> snapshot_many(const std::vector<std::pair<std::string, std::string>>& tables,
                                     std::optional<v1::Error>& error) {
        v1::Request r;
        r.set_request_id(++id_);
        r.set_credit(2);
        r.set_max_chunk_rows(7);
        r.mutable_snapshot()->set_schema_name(tables.front().first);
        r.mutable_snapshot()->set_table_name(tables.front().second);
        for (std::size_t i = 1; i < tables.size(); ++i) {
            auto* t = r.mutable_snapshot()->add_more_tables();
            t->set_schema_name(tables[i].first);
            t->set_table_name(tables[i].second);
        }
        sock_.send(zmq::buffer(r.SerializeAsString()));
        std::vector<Table> out;
        for (;;) {
            const auto rep = next_reply(r.request_id());
            switch (rep.kind_case()) {
                case v1::Reply::kSnapshotBegin: out.push_back({rep.snapshot_begin(), {}, 0}); break;
                case v1::Reply::kSnapshotRows:
                    if (out.empty()) throw std::runtime_error("rows before SnapshotBegin");
                    for (const auto& row : rep.snapshot_rows().rows()) out.back().rows.push_back(row);
                    grant(r.request_id());
                    break;
                case v1::Reply::kSnapshotEnd:
                    if (out.empty()) throw std::runtime_error("SnapshotEnd before SnapshotBegin");
                    out.back().row_count = rep.snapshot_end().row_count();
                    if (out.size() == out.back().begin.table_count()) return out;
                    break;
                case v1::Reply::kError: error = rep.error(); return out;
                default: throw std::runtime_error("unexpected reply");
            }
        }
    }

    Answer replay_transactions(std::uint64_t from, std::uint64_t to = 0) {
        v1::Request r;
        r.set_request_id(++id_);
        r.set_credit(2);
        r.set_max_chunk_rows(3);
        r.mutable_replay()->set_transactions(true);
        r.mutable_replay()->set_from_seq(from);
        r.mutable_replay()->set_to_seq(to);
        return run(r);
    }

private:
    Answer run(const v1::Request& req) {
        sock_.send(zmq::buffer(req.SerializeAsString()));
        Answer a;
        for (;;) {
            const auto rep = next_reply(req.request_id());
            switch (rep.kind_case()) {
                case v1::Reply::kSnapshotBegin:
                case v1::Reply::kReplayBegin: a.begin = rep; break;
                case v1::Reply::kSnapshotRows:
                    for (const auto& row : rep.snapshot_rows().rows()) a.rows.push_back(row);
                    grant(req.request_id());
                    break;
                case v1::Reply::kReplayMessages:
                    for (const auto& m : rep.replay_messages().messages()) a.messages.push_back(m.SerializeAsString());
                    grant(req.request_id());
                    break;
                case v1::Reply::kError: a.error = rep.error(); return a;
                default: a.end = rep; return a;
            }
        }
    }

    // The next reply to request `id` (replies to earlier requests are
    // skipped); throws after 20 s without one.
    v1::Reply next_reply(std::uint64_t id) {
        for (;;) {
            zmq::message_t frame;
            if (!sock_.recv(frame)) throw std::runtime_error("no reply within 20 s");
            v1::Reply rep;
            if (!rep.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
                throw std::runtime_error("unparsable reply");
            if (rep.request_id() == id) return rep;
        }
    }

    void grant(std::uint64_t id) {
        v1::Request c;
        c.set_request_id(id);
        c.mutable_credit_grant()->set_chunks(1);
        sock_.send(zmq::buffer(c.SerializeAsString()));
    }

    zmq::context_t ctx_{1};
    zmq::socket_t sock_;
    std::uint64_t id_ = 0;
};

class SyncIT : public ClusterTest {
protected:
    SyncIT() : ClusterTest("y") {}

    void SetUp() override {
        ClusterTest::SetUp();
        publish_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-pub.sock";
        snapshot_ = "ipc://" + cluster_->dir() + "/" + dbname_ + "-snap.sock";
    }

    // subscriber: the prefix of a Subscriber that must receive the relay's
    // first batch (start_relay_after_subscription).
    RelayProcess& start_relay(const std::vector<std::string>& extra = {},
                              const std::optional<std::string>& subscriber = std::nullopt) {
        std::vector<std::string> args{
            "--db",  relay_conninfo_,        "--publish", publish_,        "--snapshot", snapshot_, "--poll-interval",
            "100ms", "--heartbeat-interval", "200ms",     "--start-delay", "100ms"};
        args.insert(args.end(), extra.begin(), extra.end());
        if (subscriber) {
            args.insert(args.end(), {"--log-level", "debug"});
        }
        auto& r = subscriber ? start_relay_after_subscription(args, *subscriber) : start_relay_process(args);
        EXPECT_TRUE(r.wait_log("publishing on"));
        return r;
    }

    // Waits until the relay has durably published every committed change.
    void wait_drained() {
        for (int i = 0; i < 400; ++i) {
            if (db_.exec("SELECT count(*) FROM tablepub.outbox"
                         " WHERE NOT pg_visible_in_snapshot(txid, (SELECT consumed FROM tablepub.relay_state))")
                    .int64(0, 0) == 0)
                return;
            std::this_thread::sleep_for(50ms);
        }
        FAIL() << "the relay did not drain the outbox";
    }

    std::string publish_, snapshot_;
};

std::map<std::string, v1::Value> values(const v1::Change& c) {
    std::map<std::string, v1::Value> out;
    for (const auto& col : c.values()) out[col.name()] = col.value();
    return out;
}

// Every replayed range equals what was published, byte for byte.
void expect_replays_match(SyncClient& client, const std::string& schema, const std::string& table,
                          const std::map<std::uint64_t, std::string>& published) {
    const auto last = published.rbegin()->first;
    for (std::uint64_t from = 1; from <= last; ++from) {
        const auto a = client.replay(schema, table, from);
        ASSERT_FALSE(a.error) << "replay from " << from << ": " << v1::ErrorCode_Name(a.error->code()) << " "
                              << a.error->message();
        ASSERT_EQ(a.messages.size(), last - from + 1) << "replay from " << from;
        for (std::uint64_t s = from; s <= last; ++s)
            EXPECT_EQ(a.messages[s - from], published.at(s)) << "replay from " << from << ", seq " << s;
    }
}

// Names that a relay building SQL by pasting them, or aliasing the table as
// a word a column may be called, would get wrong.
TEST_F(SyncIT, NamesCannotCaptureTheRelaysSql) {
    const std::string schema = "Odd \"Sch\".éma";
    const std::string table = "T a.b\"c";
    db_.exec(R"(CREATE SCHEMA "Odd ""Sch"".éma")");
    // Reading a table by name needs USAGE on its schema; publish() grants
    // SELECT on the table only (reported to the owner of publish()).
    db_.exec(R"(GRANT USAGE ON SCHEMA "Odd ""Sch"".éma" TO tablepub_relay)");
    db_.exec(R"(CREATE TABLE "Odd ""Sch"".éma"."T a.b""c" (id int PRIMARY KEY, t text, r text, "R" int,
                encode_row text, "x.y" text, "q""q" text, secret text))");
    db_.exec(R"(INSERT INTO "Odd ""Sch"".éma"."T a.b""c"
                SELECT g, 't' || g, 'r' || g, g, 'e', 'xy', 'qq', 's' FROM generate_series(1, 2500) g)");
    db_.exec(R"(SELECT tablepub.publish('"Odd ""Sch"".éma"."T a.b""c"', exclude_columns => '{secret}'))");
    // An excluded column named like the old alias must not matter either.
    db_.exec("CREATE TABLE t (id int PRIMARY KEY, t text, v text)");
    db_.exec("INSERT INTO t SELECT g, 'hidden', 'v' || g FROM generate_series(1, 10) g");
    db_.exec("SELECT tablepub.publish('t', exclude_columns => '{t}')");
    start_relay();
    db_.exec(R"(UPDATE "Odd ""Sch"".éma"."T a.b""c" SET t = 'changed' WHERE id <= 3)");
    wait_drained();

    SyncClient client(snapshot_);
    auto a = client.snapshot(schema, table);
    ASSERT_FALSE(a.error) << a.error->message();
    ASSERT_TRUE(a.end);
    EXPECT_EQ(a.rows.size(), 2500u);
    EXPECT_EQ(a.begin->snapshot_begin().seq(), 4u);  // SCHEMA + 3 updates
    std::size_t changed = 0;
    for (const auto& row : a.rows) {
        const auto v = values(row);
        EXPECT_EQ(v.size(), 7u);
        EXPECT_FALSE(v.contains("secret"));
        EXPECT_EQ(v.at("q\"q").text(), "qq");
        if (v.at("t").text() == "changed") ++changed;
    }
    EXPECT_EQ(changed, 3u);
    a = client.snapshot(schema, table, {"x.y", "R"});
    ASSERT_FALSE(a.error) << a.error->message();
    ASSERT_EQ(a.rows.size(), 2500u);
    EXPECT_EQ(values(a.rows[0]).size(), 3u);  // id, x.y, R
    a = client.snapshot(schema, table, {"secret"});
    ASSERT_TRUE(a.error);
    EXPECT_EQ(a.error->code(), v1::COLUMN_NOT_PUBLISHED);

    a = client.snapshot("public", "t");
    ASSERT_FALSE(a.error) << a.error->message();
    EXPECT_EQ(a.rows.size(), 10u);
    for (const auto& row : a.rows) EXPECT_FALSE(values(row).contains("t"));

    a = client.replay(schema, table, 1);
    ASSERT_FALSE(a.error) << a.error->message();
    EXPECT_EQ(a.messages.size(), 4u);

    // Names that only look like the table find nothing; names that hold a
    // NUL or would be truncated to its name are refused before any lookup.
    db_.exec("CREATE TABLE " + std::string(63, 'l') + " (id int PRIMARY KEY)");
    db_.exec("SELECT tablepub.publish('" + std::string(63, 'l') + "')");
    wait_drained();
    ASSERT_FALSE(client.snapshot("public", std::string(63, 'l')).error);
    for (const auto& [s, t] : std::vector<std::pair<std::string, std::string>>{{"Odd \"Sch\"", "éma\".\"T a.b\"c"},
                                                                               {"public", "T"},
                                                                               {"public", std::string("t\0x", 3)},
                                                                               {"public", std::string(64, 'l')}}) {
        for (int kind = 0; kind < 2; ++kind) {
            a = kind == 0 ? client.snapshot(s, t) : client.replay(s, t, 1);
            ASSERT_TRUE(a.error) << s << "." << t;
            const bool malformed = t.find('\0') != std::string::npos || t.size() > 63;
            EXPECT_EQ(a.error->code(), malformed ? v1::MALFORMED_REQUEST : v1::UNKNOWN_TABLE) << a.error->message();
        }
    }
}

// Replay serves every retained message across SCHEMA changes (added,
// dropped and renamed columns, a table rename), with the bytes and names
// they were published with.
TEST_F(SyncIT, ReplayCrossesSchemaChangesAndRenames) {
    db_.exec("CREATE TABLE t (id int PRIMARY KEY, a text, b text)");
    db_.exec("SELECT tablepub.publish('t')");
    Subscriber sub({publish_}, "public.");
    start_relay({}, "public.");
    db_.exec("INSERT INTO t VALUES (1, 'a1', 'b1')");                                           // 2
    db_.exec("ALTER TABLE t ADD COLUMN c int");                                                 // 3 SCHEMA
    db_.exec("INSERT INTO t VALUES (2, 'a2', 'b2', 2)");                                        // 4
    db_.exec("BEGIN; ALTER TABLE t DROP COLUMN b; UPDATE t SET a = 'x' WHERE id = 1; COMMIT");  // 5 SCHEMA, 6
    db_.exec("ALTER TABLE t RENAME COLUMN a TO aa");                                            // 7 SCHEMA
    db_.exec("ALTER TABLE t RENAME TO u");                                                  // 8 SCHEMA, topic public.u
    db_.exec("INSERT INTO u VALUES (3, 'a3', 3)");                                          // 9
    db_.exec("BEGIN; ALTER TABLE u ADD COLUMN d int; DELETE FROM u WHERE id = 2; COMMIT");  // 10, 11
    ASSERT_TRUE(sub.wait_count("public.u", 4));
    wait_drained();
    std::map<std::uint64_t, std::string> published;
    for (const auto& m : sub.messages())
        if (m.msg.has_change()) published[m.msg.seq()] = m.raw;
    ASSERT_EQ(published.size(), 11u);
    ASSERT_EQ(published.rbegin()->first, 11u);

    SyncClient client(snapshot_);
    expect_replays_match(client, "public", "u", published);
    // A dropped column applied from a replay: seq 5 says b is gone, 6 uses
    // the schema of seq 5.
    const auto a = client.replay("public", "u", 5, 6);
    ASSERT_FALSE(a.error) << a.error->message();
    ASSERT_EQ(a.messages.size(), 2u);
    v1::Message m5, m6;
    ASSERT_TRUE(m5.ParseFromString(a.messages[0]));
    ASSERT_TRUE(m6.ParseFromString(a.messages[1]));
    EXPECT_EQ(m5.change().op(), v1::SCHEMA);
    EXPECT_EQ(m5.change().schema().columns_size(), 3);
    EXPECT_EQ(m6.schema_seq(), 5u);
    EXPECT_EQ(m6.table_name(), "t");
}

// After a rename the former topic hears where the table went, and a
// snapshot or replay under the former name answers MOVED.
TEST_F(SyncIT, RenamedTableMovesItsTopic) {
    db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
    db_.exec("SELECT tablepub.publish('t')");
    db_.exec("CREATE SCHEMA other");
    Subscriber sub({publish_}, "", true);
    start_relay({}, "");
    db_.exec("INSERT INTO t VALUES (1)");
    db_.exec("ALTER TABLE t RENAME TO u");  // SCHEMA seq 3 on public.u
    db_.exec("INSERT INTO u VALUES (2)");
    auto moved_heartbeat = [](const std::string& topic, const std::string& schema, const std::string& table,
                              std::uint64_t seq) {
        return [=](const std::vector<Received>& msgs) {
            return std::count_if(msgs.begin(), msgs.end(), [&](const Received& r) {
                       return r.topic == topic && r.msg.has_heartbeat() && r.msg.seq() == seq &&
                              r.msg.heartbeat().moved_to_schema() == schema &&
                              r.msg.heartbeat().moved_to_table() == table;
                   }) >= 2;  // the notice, then heartbeats that repeat it
        };
    };
    ASSERT_TRUE(sub.wait(moved_heartbeat("public.t", "public", "u", 3), 10s));
    wait_drained();

    SyncClient client(snapshot_);
    for (int kind = 0; kind < 2; ++kind) {
        const auto a = kind == 0 ? client.snapshot("public", "t") : client.replay("public", "t", 1);
        ASSERT_TRUE(a.error) << kind;
        EXPECT_EQ(a.error->code(), v1::MOVED) << a.error->message();
        EXPECT_EQ(a.error->moved_to_schema(), "public");
        EXPECT_EQ(a.error->moved_to_table(), "u");
    }
    // Renamed again (and to another schema): every former topic leads to
    // the current one; a name taken by a new published table is that table.
    db_.exec("ALTER TABLE u SET SCHEMA other");  // SCHEMA seq 5 on other.u
    ASSERT_TRUE(sub.wait(moved_heartbeat("public.u", "other", "u", 5), 10s));
    ASSERT_TRUE(sub.wait(moved_heartbeat("public.t", "other", "u", 3), 10s));
    db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
    db_.exec("SELECT tablepub.publish('t')");
    wait_drained();
    auto a = client.replay("public", "u", 1);
    ASSERT_TRUE(a.error);
    EXPECT_EQ(a.error->code(), v1::MOVED);
    EXPECT_EQ(a.error->moved_to_schema(), "other");
    a = client.snapshot("public", "t");
    ASSERT_FALSE(a.error) << a.error->message();
    EXPECT_EQ(a.rows.size(), 0u);
    a = client.replay("other", "u", 1);
    ASSERT_FALSE(a.error) << a.error->message();
    ASSERT_EQ(a.messages.size(), 5u);
    v1::Message first;
    ASSERT_TRUE(first.ParseFromString(a.messages[0]));
    EXPECT_EQ(first.table_name(), "t");
    EXPECT_EQ(first.schema_name(), "public");
    // A restarted relay still tells the former topics where the table went.
    ASSERT_EQ(relays_.back()->terminate(), 0);
    const auto before = static_cast<std::ptrdiff_t>(sub.count());
    start_relay();
    EXPECT_TRUE(sub.wait(
        [&](const std::vector<Received>& msgs) {
            return std::any_of(msgs.begin() + before, msgs.end(), [](const Received& r) {
                return r.topic == "public.u" && r.msg.has_heartbeat() && r.msg.seq() == 5 &&
                       r.msg.heartbeat().moved_to_schema() == "other" && r.msg.heartbeat().moved_to_table() == "u";
            });
        },
        10s));
}

// A partitioned table is read with every partition (LOCK recurses to them,
// with the relay's grant on the parent only); a plain table without the
// rows of its inheritance children, whose changes are not captured.
TEST_F(SyncIT, SnapshotReadsEveryPartitionAndNoInheritanceChild) {
    db_.exec("CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)");
    db_.exec("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100)");
    db_.exec("CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200)");
    db_.exec("INSERT INTO p SELECT g, 'v' FROM generate_series(0, 199) g");
    db_.exec("SELECT tablepub.publish('p')");
    db_.exec("CREATE TABLE parent (id int PRIMARY KEY, v text)");
    db_.exec("CREATE TABLE child (extra int) INHERITS (parent)");
    db_.exec("INSERT INTO parent VALUES (1, 'mine')");
    db_.exec("INSERT INTO child VALUES (2, 'child', 0)");
    db_.exec("SELECT tablepub.publish('parent')");
    start_relay();
    wait_drained();
    SyncClient client(snapshot_);
    auto a = client.snapshot("public", "p");
    ASSERT_FALSE(a.error) << a.error->message();
    EXPECT_EQ(a.rows.size(), 200u);
    a = client.snapshot("public", "p1");
    ASSERT_TRUE(a.error);
    EXPECT_EQ(a.error->code(), v1::NOT_PUBLISHED) << a.error->message();
    a = client.snapshot("public", "parent");
    ASSERT_FALSE(a.error) << a.error->message();
    ASSERT_EQ(a.rows.size(), 1u);
    EXPECT_EQ(values(a.rows[0]).at("v").text(), "mine");
}

// Row-level security: a snapshot never returns fewer rows than capture
// sees. Without BYPASSRLS the relay's role is refused; with it, it reads all.
// A client that takes one chunk of a snapshot and then neither grants
// credit nor cancels (crashed, SIGSTOPped) must not hold the table's ACCESS
// SHARE lock for good: an ALTER TABLE waits for it, and every writer of the
// table queues behind the ALTER. After --snapshot-idle-timeout without
// credit the relay drops the stream (TIMEOUT to the client, a log line),
// its session ends, and the ALTER and the writers go through.
TEST_F(SyncIT, AbandonedSnapshotReleasesItsLockAfterTheIdleTimeout) {
    db_.exec("CREATE TABLE t (id int PRIMARY KEY, pad text)");
    db_.exec("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
    db_.exec("SELECT tablepub.publish('t')");
    auto& relay = start_relay({"--snapshot-idle-timeout", "2s"});

    zmq::context_t ctx(1);
    zmq::socket_t sock(ctx, zmq::socket_type::dealer);
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::rcvtimeo, 60000);
    sock.connect(snapshot_);
    v1::Request req;
    req.set_request_id(7);
    req.set_credit(1);
    req.set_max_chunk_rows(100);
    req.mutable_snapshot()->set_schema_name("public");
    req.mutable_snapshot()->set_table_name("t");
    sock.send(zmq::buffer(req.SerializeAsString()));
    auto next_reply = [&] {
        zmq::message_t frame;
        if (!sock.recv(frame)) throw std::runtime_error("no reply within 60 s");
        v1::Reply rep;
        if (!rep.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
            throw std::runtime_error("unparsable reply");
        return rep;
    };
    ASSERT_TRUE(next_reply().has_snapshot_begin());
    ASSERT_TRUE(next_reply().has_snapshot_rows());
    // From here on the client is silent.

    auto ddl = std::async(std::launch::async, [this] {
        PgConnection c(conninfo_);
        c.exec("SET application_name = 'abandoned-ddl'");
        c.exec("ALTER TABLE t ADD COLUMN extra int");
    });
    // The ALTER must really be waiting for the snapshot's lock, else the test
    // proves nothing.
    bool waited = false;
    for (int i = 0; i < 600 && !waited; ++i) {
        waited = db_.exec(
                        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'abandoned-ddl'"
                        " AND wait_event_type = 'Lock')")
                     .value(0, 0) == "t";
        if (!waited) std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(waited) << "the ALTER never waited for the snapshot's lock";
    auto writer = std::async(std::launch::async, [this] {
        PgConnection c(conninfo_);
        c.exec("INSERT INTO t (id, pad) VALUES (5001, 'after')");
    });

    std::optional<v1::Reply> last;
    try {
        last = next_reply();
    } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
    }
    const bool ddl_done = ddl.wait_for(60s) == std::future_status::ready;
    const bool writer_done = writer.wait_for(60s) == std::future_status::ready;
    // Still waiting: end the relay (and with it the snapshot's session), so
    // that the test fails instead of hanging.
    if (!ddl_done || !writer_done) relay.kill9();
    EXPECT_TRUE(ddl_done) << "the ALTER still waited for the abandoned snapshot";
    EXPECT_TRUE(writer_done) << "the writer still waited behind the ALTER";
    ddl.get();
    writer.get();
    ASSERT_TRUE(last && last->has_error()) << (last ? last->DebugString() : "no reply");
    EXPECT_EQ(last->request_id(), 7u);
    EXPECT_EQ(last->error().code(), v1::TIMEOUT) << last->error().message();
    EXPECT_NE(last->error().message().find("no credit for 2000 ms"), std::string::npos) << last->error().message();
    EXPECT_TRUE(relay.wait_log("snapshot of public.t: no credit for 2000 ms, stream dropped"));
    EXPECT_EQ(db_.exec("SELECT count(*) FROM t").int64(0, 0), 5001);
}

TEST_F(SyncIT, RowLevelSecurityNeverFiltersASnapshot) {
    db_.exec("CREATE TABLE t (id int PRIMARY KEY, owner text)");
    db_.exec("INSERT INTO t SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 100) g");
    db_.exec("ALTER TABLE t ENABLE ROW LEVEL SECURITY");
    db_.exec("ALTER TABLE t FORCE ROW LEVEL SECURITY");
    db_.exec("CREATE POLICY only_a ON t USING (owner = 'a')");
    db_.exec("SELECT tablepub.publish('t')");
    // A relay role of this test's own: it gets BYPASSRLS below, which the
    // other tests of the shared cluster must not see.
    const std::string role = "tablepub_test_rls_relay";
    cluster_->create_relay_role(role);
    relay_conninfo_ = cluster_->relay_conninfo(dbname_, role);
    start_relay();
    SyncClient client(snapshot_);
    auto a = client.snapshot("public", "t");
    ASSERT_TRUE(a.error);
    EXPECT_EQ(a.error->code(), v1::FORBIDDEN) << a.error->message();
    EXPECT_NE(a.error->message().find("BYPASSRLS"), std::string::npos) << a.error->message();
    EXPECT_TRUE(a.rows.empty());

    db_.exec("ALTER ROLE " + role + " BYPASSRLS");
    a = client.snapshot("public", "t");
    ASSERT_FALSE(a.error) << a.error->message();
    EXPECT_EQ(a.rows.size(), 100u);
}

}  // namespace
}  // namespace tablepub::test

namespace tablepub::test {
namespace {

// Money moves between two tables while multi-table snapshots are taken:
// every snapshot is one database state (the sum over both tables holds),
// and its tables share one snapshot header and position.
TEST_F(SyncIT, MultiTableSnapshotIsOneStateOfAllItsTables) {
    db_.exec("CREATE TABLE acc_a (id int PRIMARY KEY, bal int NOT NULL)");
    db_.exec("CREATE TABLE acc_b (id int PRIMARY KEY, bal int NOT NULL)");
    db_.exec("INSERT INTO acc_a SELECT g, 100 FROM generate_series(1, 40) g");
    db_.exec("INSERT INTO acc_b SELECT g, 100 FROM generate_series(1, 40) g");
    db_.exec("SELECT tablepub.publish('acc_a'), tablepub.publish('acc_b')");
    start_relay();
    SyncClient client(snapshot_);

    std::atomic<bool> stop{false};
    std::atomic<int> transfers{0};
    auto writer = std::async(std::launch::async, [&] {
        PgConnection w(conninfo_);
        for (int i = 0; !stop; ++i) {
            const auto from = std::to_string(i % 40 + 1), to = std::to_string((i * 7) % 40 + 1);
            // the two halves in separate statements: a snapshot between
            // them would see money missing
            w.exec("BEGIN; UPDATE acc_a SET bal = bal - 3 WHERE id = " + from + "; SELECT pg_sleep(0.001);" +
                   "UPDATE acc_b SET bal = bal + 3 WHERE id = " + to + "; COMMIT");
            w.exec("BEGIN; UPDATE acc_b SET bal = bal - 1 WHERE id = " + to + "; SELECT pg_sleep(0.001);" +
                   "UPDATE acc_a SET bal = bal + 1 WHERE id = " + from + "; COMMIT");
            transfers += 2;
        }
    });
    std::uint64_t last_position = 0;
    for (int round = 0; round < 15 || transfers < 20; ++round) {
        std::optional<v1::Error> error;
        const auto tables = client.snapshot_many({{"public", "acc_a"}, {"public", "acc_b"}}, error);
        ASSERT_FALSE(error) << error->message();
        ASSERT_EQ(tables.size(), 2u);
        std::int64_t sum = 0;
        for (std::size_t i = 0; i < 2; ++i) {
            const auto& b = tables[i].begin;
            EXPECT_EQ(b.table_index(), i);
            EXPECT_EQ(b.table_count(), 2u);
            EXPECT_EQ(b.table_name(), i == 0 ? "acc_a" : "acc_b");
            EXPECT_EQ(b.xmin(), tables[0].begin.xmin());
            EXPECT_EQ(b.xmax(), tables[0].begin.xmax());
            EXPECT_EQ(std::vector<std::uint64_t>(b.xip().begin(), b.xip().end()),
                      std::vector<std::uint64_t>(tables[0].begin.xip().begin(), tables[0].begin.xip().end()));
            EXPECT_EQ(b.position(), tables[0].begin.position());
            EXPECT_EQ(tables[i].rows.size(), 40u);
            EXPECT_EQ(tables[i].row_count, 40u);
            for (const auto& row : tables[i].rows) sum += values(row).at("bal").integer();
        }
        EXPECT_EQ(sum, 8000) << "round " << round << ": the tables are from different states";
        EXPECT_GE(tables[0].begin.position(), last_position);
        last_position = tables[0].begin.position();
    }
    stop = true;
    writer.get();
    EXPECT_GT(last_position, 0u);

    // A one-table snapshot says it is one of one.
    const auto one = client.snapshot("public", "acc_a");
    ASSERT_TRUE(one.begin);
    EXPECT_EQ(one.begin->snapshot_begin().table_count(), 1u);
    EXPECT_EQ(one.begin->snapshot_begin().table_index(), 0u);
    EXPECT_EQ(one.begin->snapshot_begin().group(), "default");  // --snapshot's group

    // One table that cannot be read: one Error, nothing streamed before it.
    std::optional<v1::Error> error;
    auto none = client.snapshot_many({{"public", "acc_a"}, {"public", "no_such"}}, error);
    EXPECT_TRUE(none.empty());
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), v1::UNKNOWN_TABLE);
    db_.exec("CREATE TABLE unpublished (id int PRIMARY KEY)");
    error.reset();
    none = client.snapshot_many({{"public", "acc_b"}, {"public", "unpublished"}}, error);
    EXPECT_TRUE(none.empty());
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), v1::NOT_PUBLISHED);
    error.reset();
    none = client.snapshot_many({{"public", "acc_a"}, {"public", "acc_b"}, {"public", "acc_a"}}, error);
    EXPECT_TRUE(none.empty());
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), v1::MALFORMED_REQUEST);
}

// The transaction topic replays as published, by position.
TEST_F(SyncIT, TransactionReplayGivesThePublishedBytes) {
    db_.exec("CREATE TABLE p (id int PRIMARY KEY)");
    db_.exec("CREATE TABLE c (id int PRIMARY KEY, p int)");
    db_.exec("SELECT tablepub.publish('p'), tablepub.publish('c')");
    Subscriber sub({publish_}, ".tx", false, false, true);
    start_relay({}, ".tx");
    for (int i = 1; i <= 12; ++i) {
        const auto id = std::to_string(i);
        db_.exec("BEGIN; INSERT INTO p VALUES (" + id + "); INSERT INTO c VALUES (" + id + ", " + id + "), (" + id +
                 "00, " + id + "); COMMIT");
    }
    // 1 transaction of publish() + 12
    ASSERT_TRUE(sub.wait([](const std::vector<Received>& m) { return m.size() >= 13; }));
    wait_drained();
    std::map<std::uint64_t, std::string> live;
    for (const auto& m : sub.messages()) live.emplace(m.msg.seq(), m.raw);
    SyncClient client(snapshot_);
    const auto a = client.replay_transactions(2, 11);
    ASSERT_FALSE(a.error) << a.error->message();
    ASSERT_TRUE(a.begin);
    EXPECT_EQ(a.begin->replay_begin().from_seq(), 2u);
    EXPECT_EQ(a.begin->replay_begin().to_seq(), 11u);
    ASSERT_EQ(a.messages.size(), 10u);
    for (std::size_t i = 0; i < a.messages.size(); ++i) {
        v1::Message m;
        ASSERT_TRUE(m.ParseFromString(a.messages[i]));
        EXPECT_EQ(m.seq(), i + 2);
        EXPECT_EQ(m.transaction().tables_size(), 2);
        EXPECT_EQ(m.transaction().group(), "default");
        EXPECT_EQ(a.messages[i], live.at(m.seq())) << "position " << m.seq();
    }
    const auto beyond = client.replay_transactions(100);
    ASSERT_FALSE(beyond.error);
    EXPECT_EQ(beyond.begin->replay_begin().to_seq(), 99u);
    EXPECT_TRUE(beyond.messages.empty());
}

// Multi-row statements (packed outbox rows, docs/design.md "Packed outbox
// rows") and single-row ones mixed in one transaction and across two
// tables: one message per change, numbered gap-free in capture order, and
// every replay of a table (from and to any seq, so starting and ending
// inside a pack) and of the transactions gives the published bytes.
TEST_F(SyncIT, PackedRowsPublishAndReplayOneMessagePerChange) {
    db_.exec("CREATE TABLE a (id int PRIMARY KEY, v text)");
    db_.exec("CREATE TABLE b (id int PRIMARY KEY, v text)");
    db_.exec("SELECT tablepub.publish('a'), tablepub.publish('b')");
    Subscriber sub({publish_}, "", false, false, true);
    start_relay({}, "");
    db_.exec(
        "BEGIN; INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 30) g; INSERT INTO b VALUES (1, 'one');"
        " UPDATE a SET v = v || '!' WHERE id <= 12; INSERT INTO b SELECT g, 'b' || g FROM generate_series(2, 9) g;"
        " DELETE FROM a WHERE id = 5; INSERT INTO a VALUES (31, 'single'); COMMIT");
    db_.exec("INSERT INTO a VALUES (32, 'alone')");
    db_.exec("BEGIN; UPDATE b SET v = 'x' WHERE id > 3; DELETE FROM a WHERE id > 25; COMMIT");
    // What the extension wrote: some rows are packs, else this proves nothing.
    ASSERT_GT(
        db_.exec("SELECT count(*) FROM tablepub.outbox WHERE substring(change FROM 1 FOR 1) = '\\x00'").int64(0, 0), 2);
    // a: SCHEMA + 30 + 12 + 1 + 1 + 1 + 7; b: SCHEMA + 1 + 8 + 6
    constexpr std::size_t a_count = 1 + 30 + 12 + 1 + 1 + 1 + 7, b_count = 1 + 1 + 8 + 6;
    ASSERT_TRUE(sub.wait_count("public.a", a_count));
    ASSERT_TRUE(sub.wait_count("public.b", b_count));
    // The Transaction messages of publish() and the three transactions.
    ASSERT_TRUE(sub.wait([](const std::vector<Received>& m) {
        return std::count_if(m.begin(), m.end(), [](const Received& r) { return r.topic == ".tx"; }) >= 4;
    }));
    wait_drained();
    const auto all = sub.messages();
    std::map<std::string, std::map<std::uint64_t, std::string>> live;
    std::map<std::uint64_t, std::string> transactions;
    for (const auto& m : all) {
        if (m.topic == ".tx") {
            transactions.emplace(m.msg.seq(), m.raw);
        } else if (m.msg.has_change()) {
            live[m.topic].emplace(m.msg.seq(), m.raw);
        }
    }
    for (const auto& [topic, n] : {std::pair{std::string("public.a"), a_count}, {std::string("public.b"), b_count}}) {
        const auto check = check_stream(all, topic);
        EXPECT_TRUE(check.problems.empty()) << check.problems.front();
        EXPECT_EQ(check.by_seq.size(), n) << topic;
        EXPECT_EQ(check.duplicates, 0u) << topic;
    }
    // a's first transaction, change by change in capture order: inserts
    // 1..30, updates 1..12, the delete of 5, the insert of 31 (tx_last).
    const auto a_check = check_stream(all, "public.a");
    const auto& a = a_check.by_seq;
    std::uint64_t txid = 0;
    for (std::uint64_t seq = 2; seq <= 45; ++seq) {
        const auto& m = a.at(seq)->msg;
        if (seq == 2) txid = m.txid();
        EXPECT_EQ(m.txid(), txid) << seq;
        EXPECT_EQ(m.tx_last(), seq == 45) << seq;
        const auto& c = m.change();
        const auto id = values(c).count("id") ? values(c).at("id").integer() : c.key(0).value().integer();
        if (seq <= 31) {
            EXPECT_EQ(c.op(), v1::INSERT) << seq;
            EXPECT_EQ(id, static_cast<std::int64_t>(seq - 1)) << seq;
        } else if (seq <= 43) {
            EXPECT_EQ(c.op(), v1::UPDATE) << seq;
            EXPECT_EQ(id, static_cast<std::int64_t>(seq - 31)) << seq;
            EXPECT_EQ(values(c).at("v").text(), "a" + std::to_string(seq - 31) + "!") << seq;
        } else if (seq == 44) {
            EXPECT_EQ(c.op(), v1::DELETE);
            EXPECT_EQ(id, 5);
        } else {
            EXPECT_EQ(c.op(), v1::INSERT);
            EXPECT_EQ(id, 31);
        }
    }
    // Every message of one transaction carries its position; its
    // Transaction message names the tables' seq ranges.
    const std::uint64_t position = a.at(2)->msg.position();
    ASSERT_TRUE(transactions.count(position));
    v1::Message tx;
    ASSERT_TRUE(tx.ParseFromString(transactions.at(position)));
    ASSERT_EQ(tx.transaction().tables_size(), 2);
    EXPECT_EQ(tx.transaction().tables(0).table_name(), "a");
    EXPECT_EQ(tx.transaction().tables(0).first_seq(), 2u);
    EXPECT_EQ(tx.transaction().tables(0).last_seq(), 45u);
    EXPECT_EQ(tx.transaction().tables(1).table_name(), "b");
    EXPECT_EQ(tx.transaction().tables(1).first_seq(), 2u);
    EXPECT_EQ(tx.transaction().tables(1).last_seq(), 10u);

    SyncClient client(snapshot_);
    expect_replays_match(client, "public", "a", live["public.a"]);
    expect_replays_match(client, "public", "b", live["public.b"]);
    // Ranges that end inside a pack too.
    for (const auto& [from, to] : {std::pair<std::uint64_t, std::uint64_t>{3, 17}, {20, 33}, {31, 31}, {44, 50}}) {
        const auto r = client.replay("public", "a", from, to);
        ASSERT_FALSE(r.error) << r.error->message();
        ASSERT_EQ(r.messages.size(), to - from + 1) << from << ".." << to;
        for (std::uint64_t seq = from; seq <= to; ++seq)
            EXPECT_EQ(r.messages[seq - from], live["public.a"].at(seq)) << from << ".." << to << ", seq " << seq;
    }
    const auto first = transactions.begin()->first, last = transactions.rbegin()->first;
    const auto r = client.replay_transactions(first, last);
    ASSERT_FALSE(r.error) << r.error->message();
    ASSERT_EQ(r.messages.size(), transactions.size());
    for (std::size_t i = 0; i < r.messages.size(); ++i)
        EXPECT_EQ(r.messages[i], transactions.at(first + i)) << "position " << first + i;
}

}  // namespace
}  // namespace tablepub::test
