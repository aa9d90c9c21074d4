// The bus's security end to end: the real tablepub-relay (as the harness's
// non-superuser login role that is only a member of tablepub_relay) with
// CURVE keys written by the key tool's code, real ZeroMQ peers with and
// without allowed keys, and endpoint groups that carry different tables.

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <zmq_addon.hpp>

#include "common/bus_security.hpp"
#include "common/curve_keys.hpp"
#include "harness.hpp"
#include "tablepub/subscriber.hpp"
#include "tablepub/table_sync.hpp"

namespace tablepub::test {
namespace {

using namespace std::chrono_literals;

// A ZeroMQ client socket with a monitor, so a test can wait for the
// handshake's outcome instead of sleeping.
class Peer {
public:
    Peer(zmq::socket_type type, const std::string& endpoint, const CurveClient& curve, const std::string& name)
        : sock_(ctx_, type), mon_(ctx_, zmq::socket_type::pair) {
        sock_.set(zmq::sockopt::linger, 0);
        sock_.set(zmq::sockopt::reconnect_ivl, 50);
        if (type == zmq::socket_type::sub) sock_.set(zmq::sockopt::subscribe, "");
        apply_curve_client(sock_, curve);
        const std::string mon = "inproc://mon-" + name;
        if (zmq_socket_monitor(sock_.handle(), mon.c_str(),
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                   ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
            throw std::runtime_error("zmq_socket_monitor failed");
        }
        mon_.connect(mon);
        sock_.connect(endpoint);
    }

    // Waits for `n` handshake outcomes; returns how many succeeded and failed.
    std::pair<int, int> handshakes(int n, std::chrono::milliseconds timeout = 20s) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (ok_ + failed_ < n && std::chrono::steady_clock::now() < until) {
            zmq::pollitem_t item{mon_.handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, 100ms);
            std::vector<zmq::message_t> ev;
            while (zmq::recv_multipart(mon_, std::back_inserter(ev), zmq::recv_flags::dontwait)) {
                std::uint16_t id = 0;
                std::memcpy(&id, ev[0].data(), sizeof id);
                (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? ok_ : failed_)++;
                ev.clear();
            }
        }
        return {ok_, failed_};
    }

    // Every multipart message that arrives within `wait`.
    std::vector<std::vector<std::string>> receive(std::chrono::milliseconds wait) {
        std::vector<std::vector<std::string>> out;
        const auto until = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < until) {
            zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, 20ms);
            std::vector<zmq::message_t> frames;
            while (zmq::recv_multipart(sock_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
                std::vector<std::string> m;
                for (auto& f : frames) m.push_back(f.to_string());
                out.push_back(std::move(m));
                frames.clear();
            }
        }
        return out;
    }

    void send(const v1::Request& req) { sock_.send(zmq::buffer(req.SerializeAsString()), zmq::send_flags::dontwait); }

    // Replies to request_id until one ends the stream (or the timeout).
    std::vector<v1::Reply> exchange(const v1::Request& req, std::chrono::milliseconds timeout = 20s) {
        send(req);
        std::vector<v1::Reply> out;
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
            for (const auto& m : receive(50ms)) {
                v1::Reply r;
                if (m.size() != 1 || !r.ParseFromString(m[0]) || r.request_id() != req.request_id()) continue;
                out.push_back(r);
                if (r.has_snapshot_rows() || r.has_replay_messages()) {
                    v1::Request credit;
                    credit.set_request_id(req.request_id());
                    credit.mutable_credit_grant()->set_chunks(1);
                    send(credit);
                }
                if (r.has_snapshot_end() || r.has_replay_end() || r.has_error()) return out;
            }
        }
        return out;
    }

private:
    zmq::context_t ctx_{1};
    zmq::socket_t sock_;
    zmq::socket_t mon_;
    int ok_ = 0;
    int failed_ = 0;
};

v1::Request snapshot_request(std::uint64_t id, const std::string& schema, const std::string& table) {
    v1::Request r;
    r.set_request_id(id);
    r.set_credit(8);
    r.mutable_snapshot()->set_schema_name(schema);
    r.mutable_snapshot()->set_table_name(table);
    return r;
}

v1::Request replay_request(std::uint64_t id, const std::string& schema, const std::string& table) {
    v1::Request r;
    r.set_request_id(id);
    r.set_credit(8);
    r.mutable_replay()->set_schema_name(schema);
    r.mutable_replay()->set_table_name(table);
    r.mutable_replay()->set_from_seq(1);
    return r;
}

std::size_t snapshot_rows(const std::vector<v1::Reply>& replies) {
    std::size_t n = 0;
    for (const auto& r : replies)
        n += r.has_snapshot_rows() ? static_cast<std::size_t>(r.snapshot_rows().rows_size()) : 0;
    return n;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

class BusSecurityIT : public ClusterTest {
protected:
    BusSecurityIT() : ClusterTest("bus") {}

    void SetUp() override {
        ClusterTest::SetUp();
        dir_ = cluster_->dir() + "/" + dbname_;
        std::filesystem::create_directories(dir_ + "/allow-a");
        std::filesystem::create_directories(dir_ + "/allow-b");
        relay_keys_ = make_keys("relay");
        alice_ = make_keys("alice", "allow-a");
        bob_ = make_keys("bob", "allow-b");
        mallory_ = make_keys("mallory");
        // The relay logs in as a member of tablepub_relay, not as a superuser.
        relay_db_ = relay_conninfo_;
    }

    // A key pair written as tablepub-keygen writes it; its public
    // certificate also copied into an allow-list directory when given.
    CurveKeyPair make_keys(const std::string& name, const std::string& allow = "") {
        const auto keys = generate_key_pair();
        write_key_pair(dir_ + "/" + name, keys);
        if (!allow.empty())
            std::filesystem::copy_file(dir_ + "/" + name + ".key", dir_ + "/" + allow + "/" + name + ".key");
        return keys;
    }

    CurveClient client(const CurveKeyPair& mine) const {
        return {relay_keys_.public_key, mine.public_key, mine.secret_key};
    }

    std::string ep(const std::string& name) const { return "ipc://" + dir_ + "/" + name + ".sock"; }

    RelayProcess& start_relay(std::vector<std::string> extra) {
        std::vector<std::string> args{"--db",
                                      relay_db_,
                                      "--poll-interval",
                                      "200ms",
                                      "--heartbeat-interval",
                                      "300ms",
                                      "--start-delay",
                                      "100ms",
                                      "--curve-secret-key",
                                      dir_ + "/relay.key_secret"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto& r = start_relay_process(std::move(args));
        if (!r.wait_log("active:") || !r.wait_log("publishing on")) ADD_FAILURE() << "the relay did not start";
        return r;
    }

    // Rows 1..n of a fresh published table name(id, v).
    void create_table(const std::string& name, int n) {
        db_.exec("CREATE TABLE " + name + " (id int PRIMARY KEY, v text)");
        db_.exec("INSERT INTO " + name + " SELECT g, 'v' || g FROM generate_series(1, " + std::to_string(n) + ") g");
        db_.exec("SELECT tablepub.publish('" + name + "')");
    }

    std::string dir_;
    std::string relay_db_;
    CurveKeyPair relay_keys_, alice_, bob_, mallory_;
};

// One group on --publish/--snapshot with --curve-allow: a subscriber without
// a key, or with a key not on the list, is refused on both endpoints and
// receives nothing, while an allowed one takes a snapshot and follows the
// deltas through the C++ library.
TEST_F(BusSecurityIT, CurveRefusesUnknownPeersOnBothEndpoints) {
    create_table("t", 500);
    auto& relay = start_relay({"--publish", ep("pub"), "--snapshot", ep("snap"), "--curve-allow", dir_ + "/allow-a"});

    Peer plain_sub(zmq::socket_type::sub, ep("pub"), {}, "plain-sub");
    Peer plain_dealer(zmq::socket_type::dealer, ep("snap"), {}, "plain-dealer");
    // Mallory has the relay's public key but her key is not on the list;
    // she tries with five sockets on each endpoint.
    std::vector<std::unique_ptr<Peer>> mallory;
    for (int i = 0; i < 5; ++i) {
        mallory.push_back(std::make_unique<Peer>(zmq::socket_type::sub, ep("pub"), client(mallory_),
                                                 "mallory-sub-" + std::to_string(i)));
        mallory.push_back(std::make_unique<Peer>(zmq::socket_type::dealer, ep("snap"), client(mallory_),
                                                 "mallory-dealer-" + std::to_string(i)));
        mallory.back()->send(snapshot_request(1, "public", "t"));
    }
    plain_dealer.send(snapshot_request(1, "public", "t"));
    // Alice's own key, but a wrong idea of the relay's key.
    CurveClient wrong_server = client(alice_);
    wrong_server.server_key = mallory_.public_key;
    Peer wrong_sub(zmq::socket_type::sub, ep("pub"), wrong_server, "wrong-sub");

    SubscriberOptions so;
    so.publish_endpoints = {ep("pub")};
    so.snapshot_endpoints = {ep("snap")};
    so.tables = {"public.t"};
    so.request_timeout = 2000ms;
    so.curve_server_key = relay_keys_.public_key;
    so.curve_secret_key = alice_.secret_key;  // public key derived by the library
    tablepub::Subscriber alice(so);
    alice.start();
    const auto live_at = [&](std::uint64_t seq) {
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (std::chrono::steady_clock::now() < until) {
            const auto st = alice.status();
            if (alice.all_live() && st[0].last_seq >= seq) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    };
    ASSERT_TRUE(live_at(0)) << "the allowed subscriber did not get its snapshot";
    const auto before = static_cast<std::uint64_t>(
        db_.exec("SELECT coalesce(max(last_seq), 0) FROM tablepub.relay_stream WHERE table_name = 't'").int64(0, 0));
    db_.exec("UPDATE t SET v = 'changed' WHERE id <= 10");
    db_.exec("INSERT INTO t SELECT g, 'new' FROM generate_series(501, 520) g");
    db_.exec("DELETE FROM t WHERE id BETWEEN 100 AND 104");
    ASSERT_TRUE(live_at(before + 35)) << "the allowed subscriber did not follow the deltas";
    alice.stop();
    ASSERT_TRUE(alice.with_table("public.t", [&](const TableSync& s) {
        EXPECT_EQ(s.mirror().size(), 515u);
        EXPECT_EQ(s.stats().applied, 35u);
    }));

    // Every refused peer saw its handshake fail, never succeed, and
    // received nothing while alice received everything.
    std::vector<Peer*> refused{&plain_sub, &plain_dealer, &wrong_sub};
    for (auto& m : mallory) refused.push_back(m.get());
    for (auto* p : refused) {
        const auto [ok, failed] = p->handshakes(1);
        EXPECT_EQ(ok, 0);
        EXPECT_GE(failed, 1);
        EXPECT_TRUE(p->receive(100ms).empty()) << "a refused peer received something";
    }
    // One line per refused peer, not one per attempt: mallory's ten
    // attempts log one line per endpoint (each has its ZAP handler).
    const auto log = relay.log();
    const auto lines = count_of(log, "with key " + mallory_.public_key);
    EXPECT_GE(lines, 1u) << log;
    EXPECT_LE(lines, 2u) << log;
    // Peers refused before the key check are logged by endpoint and reason
    // (a plain client's refusal reads as a mechanism mismatch or as the
    // client leaving, whichever side notices first).
    EXPECT_GE(count_of(log, "refused a client on " + ep("snap") + " (snapshot)"), 1u) << log;
    EXPECT_EQ(count_of(log, "refused a client on " + ep("pub") +
                                " (group \"default\" publish): the client's CURVE handshake does not decrypt"),
              1u)
        << log;
    EXPECT_LE(count_of(log, "refused a client on "), 6u) << log;
    EXPECT_EQ(count_of(log, alice_.public_key), 0u) << "an allowed key was refused";
}

// Two groups with their own endpoints, keys and tables: a key of group A
// never receives a row, a delta or a heartbeat of a table only group B may
// see, and the snapshot service answers FORBIDDEN for anything else.
TEST_F(BusSecurityIT, AudiencesCarryOnlyTheirTables) {
    create_table("a", 50);
    create_table("b", 60);
    create_table("c", 70);  // published, in neither group
    start_relay(
        {"--group",
         "ga:pub=" + ep("pub-a") + ",snap=" + ep("snap-a") + ",keys=" + dir_ + "/allow-a" + ",tables=public.a",
         "--group",
         "gb:pub=" + ep("pub-b") + ",snap=" + ep("snap-b") + ",keys=" + dir_ + "/allow-b" + ",tables=public.b"});
    Peer alice_sub(zmq::socket_type::sub, ep("pub-a"), client(alice_), "alice-sub");
    Peer bob_sub(zmq::socket_type::sub, ep("pub-b"), client(bob_), "bob-sub");
    Peer alice_on_b(zmq::socket_type::sub, ep("pub-b"), client(alice_), "alice-on-b");
    ASSERT_EQ(alice_sub.handshakes(1).first, 1);
    ASSERT_EQ(bob_sub.handshakes(1).first, 1);
    for (int i = 1; i <= 5; ++i) {
        db_.exec("BEGIN; UPDATE a SET v = 'x' WHERE id = " + std::to_string(i) + "; UPDATE b SET v = 'x' WHERE id = " +
                 std::to_string(i) + "; UPDATE c SET v = 'x' WHERE id = " + std::to_string(i) + "; COMMIT");
    }
    // Until both have their five changes and a heartbeat of their tables.
    std::vector<std::vector<std::string>> got_a, got_b;
    const auto complete = [](const std::vector<std::vector<std::string>>& got, const std::string& topic,
                             std::size_t changes) {
        // Every change, then a heartbeat (nothing of the table follows unseen).
        std::size_t n = 0;
        bool heartbeat = false;
        for (const auto& m : got) {
            v1::Message msg;
            if (m.size() != 2 || m[0] != topic || !msg.ParseFromString(m[1])) continue;
            if (msg.has_change() && msg.change().op() == v1::UPDATE) ++n;
            heartbeat = heartbeat || (msg.has_heartbeat() && n == changes);
        }
        return n == changes && heartbeat;
    };
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!(complete(got_a, "public.a", 5) && complete(got_b, "public.b", 5)) &&
           std::chrono::steady_clock::now() < until) {
        for (auto& m : alice_sub.receive(50ms)) got_a.push_back(std::move(m));
        for (auto& m : bob_sub.receive(50ms)) got_b.push_back(std::move(m));
    }
    ASSERT_TRUE(complete(got_a, "public.a", 5));
    ASSERT_TRUE(complete(got_b, "public.b", 5));
    // Transaction messages go out once the relay has seen a subscription
    // to ".tx" (protocol.md 4a, "Who receives .tx"), which may be after the
    // first transactions: more of them until each group has 5.
    const auto transactions_listing = [](const std::vector<std::vector<std::string>>& got) {
        std::size_t n = 0;
        for (const auto& m : got) {
            v1::Message msg;
            if (m.size() == 2 && m[0] == ".tx" && msg.ParseFromString(m[1]) && msg.transaction().tables_size() > 0) ++n;
        }
        return n;
    };
    const auto tx_until = std::chrono::steady_clock::now() + 30s;
    for (int i = 6; (transactions_listing(got_a) < 5 || transactions_listing(got_b) < 5) &&
                    std::chrono::steady_clock::now() < tx_until;
         ++i) {
        // (a new value each time: an UPDATE that changes nothing is not published)
        const auto id = std::to_string(i % 50 + 1), v = "'y" + std::to_string(i) + "'";
        db_.exec("BEGIN; UPDATE a SET v = " + v + " WHERE id = " + id + "; UPDATE b SET v = " + v +
                 " WHERE id = " + id + "; UPDATE c SET v = " + v + " WHERE id = " + id + "; COMMIT");
        for (auto& m : alice_sub.receive(50ms)) got_a.push_back(std::move(m));
        for (auto& m : bob_sub.receive(50ms)) got_b.push_back(std::move(m));
    }
    // The transaction topic reaches both groups, listing their own table
    // only (each transaction changed a, b and c).
    const auto only_own = [](const std::vector<std::vector<std::string>>& got, const std::string& table) {
        std::size_t listed = 0;
        for (const auto& m : got) {
            v1::Message msg;
            EXPECT_TRUE(msg.ParseFromString(m.at(1)));
            if (m[0] == ".tx") {
                for (const auto& r : msg.transaction().tables()) EXPECT_EQ(r.table_name(), table);
                if (msg.transaction().tables_size() > 0) ++listed;
                continue;
            }
            EXPECT_EQ(m[0], "public." + table);
            EXPECT_EQ(msg.table_name(), table);
        }
        return listed;
    };
    EXPECT_GE(only_own(got_a, "a"), 5u);
    EXPECT_GE(only_own(got_b, "b"), 5u);
    // Alice's key is not in group B's list: refused there.
    EXPECT_EQ(alice_on_b.handshakes(1).first, 0);
    EXPECT_TRUE(alice_on_b.receive(200ms).empty());

    Peer alice(zmq::socket_type::dealer, ep("snap-a"), client(alice_), "alice-dealer");
    const auto own = alice.exchange(snapshot_request(1, "public", "a"));
    ASSERT_FALSE(own.empty());
    ASSERT_TRUE(own.back().has_snapshot_end()) << own.back().DebugString();
    EXPECT_EQ(snapshot_rows(own), 50u);
    std::uint64_t id = 2;
    for (const auto& [schema, table] : std::vector<std::pair<std::string, std::string>>{
             {"public", "b"}, {"public", "c"}, {"public", "nope"}, {"tablepub", "relay_stream"}}) {
        for (const auto& req : {snapshot_request(id++, schema, table), replay_request(id++, schema, table)}) {
            const auto replies = alice.exchange(req);
            ASSERT_EQ(replies.size(), 1u) << schema << "." << table;
            ASSERT_TRUE(replies[0].has_error());
            // FORBIDDEN whether or not the table exists: the answer
            // depends on the group's list only.
            EXPECT_EQ(replies[0].error().code(), v1::FORBIDDEN) << replies[0].DebugString();
        }
    }
    Peer bob(zmq::socket_type::dealer, ep("snap-b"), client(bob_), "bob-dealer");
    EXPECT_EQ(snapshot_rows(bob.exchange(snapshot_request(1, "public", "b"))), 60u);
    for (const auto* table : {"a", "c"}) {
        const auto refused = bob.exchange(snapshot_request(2, "public", table));
        ASSERT_EQ(refused.size(), 1u);
        EXPECT_EQ(refused[0].error().code(), v1::FORBIDDEN);
    }
    const auto replay = bob.exchange(replay_request(4, "public", "b"));
    ASSERT_FALSE(replay.empty());
    EXPECT_TRUE(replay.back().has_replay_end()) << replay.back().DebugString();
}

// A plain endpoint (the default group, say on a private interface) and a
// CURVE group side by side, on the same PUB and ROUTER sockets' process.
TEST_F(BusSecurityIT, MixedPlainAndCurveEndpoints) {
    create_table("t", 40);
    start_relay({"--publish", ep("pub"), "--snapshot", ep("snap"), "--group",
                 "ext:pub=" + ep("pub-x") + ",snap=" + ep("snap-x") + ",keys=" + dir_ + "/allow-a"});
    Peer plain_sub(zmq::socket_type::sub, ep("pub"), {}, "plain-sub");
    Peer alice_sub(zmq::socket_type::sub, ep("pub-x"), client(alice_), "alice-sub");
    Peer plain_on_x(zmq::socket_type::sub, ep("pub-x"), {}, "plain-on-x");
    ASSERT_EQ(plain_sub.handshakes(1).first, 1);
    ASSERT_EQ(alice_sub.handshakes(1).first, 1);
    db_.exec("UPDATE t SET v = 'y' WHERE id = 1");
    const auto got_change = [](Peer& p) {
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < until) {
            for (const auto& m : p.receive(50ms)) {
                v1::Message msg;
                if (m.size() == 2 && msg.ParseFromString(m[1]) && msg.has_change()) return true;
            }
        }
        return false;
    };
    EXPECT_TRUE(got_change(plain_sub));
    EXPECT_TRUE(got_change(alice_sub));
    EXPECT_EQ(plain_on_x.handshakes(1).first, 0);
    EXPECT_TRUE(plain_on_x.receive(200ms).empty());

    Peer plain_dealer(zmq::socket_type::dealer, ep("snap"), {}, "plain-dealer");
    Peer alice_dealer(zmq::socket_type::dealer, ep("snap-x"), client(alice_), "alice-dealer");
    Peer plain_on_snap_x(zmq::socket_type::dealer, ep("snap-x"), {}, "plain-on-snap-x");
    const auto plain_snapshot = plain_dealer.exchange(snapshot_request(1, "public", "t"));
    const auto alice_snapshot = alice_dealer.exchange(snapshot_request(1, "public", "t"));
    EXPECT_EQ(snapshot_rows(plain_snapshot), 40u);
    EXPECT_EQ(snapshot_rows(alice_snapshot), 40u);
    // Each SnapshotBegin names the group of the endpoint it came in on.
    ASSERT_FALSE(plain_snapshot.empty());
    ASSERT_FALSE(alice_snapshot.empty());
    ASSERT_TRUE(plain_snapshot.front().has_snapshot_begin());
    ASSERT_TRUE(alice_snapshot.front().has_snapshot_begin());
    EXPECT_EQ(plain_snapshot.front().snapshot_begin().group(), "default");
    EXPECT_EQ(alice_snapshot.front().snapshot_begin().group(), "ext");
    EXPECT_EQ(plain_on_snap_x.handshakes(1).first, 0);
    plain_on_snap_x.send(snapshot_request(1, "public", "t"));
    EXPECT_TRUE(plain_on_snap_x.receive(300ms).empty());
}

// tablepub-tail with the same key files: raw stream and --snapshot mode
// work with an allowed key; a malformed key file is one line and exit 1.
TEST_F(BusSecurityIT, TailWithCurveKeys) {
    create_table("t", 3);
    start_relay({"--publish", ep("pub"), "--snapshot", ep("snap"), "--curve-allow", dir_ + "/allow-a"});
    const std::string tail = std::string(TABLEPUB_TAIL_BIN) + " --curve-server-key " + dir_ + "/relay.key" +
                             " --curve-client-key " + dir_ + "/alice.key_secret --connect " + ep("pub");
    // Updates until tail has printed its snapshot and one change.
    const auto snap = run_command("timeout 20 " + tail + " --snapshot-endpoint " + ep("snap") +
                                  " --table public.t --snapshot --count 1 & p=$!; while kill -0 $p 2>/dev/null; do "
                                  "psql -qX '" +
                                  conninfo_ +
                                  "' -c \"UPDATE t SET v = md5(random()::text) WHERE id = 2\"; "
                                  "sleep 0.1; done; wait $p");
    EXPECT_EQ(snap.status, 0) << snap.output;
    EXPECT_EQ(count_of(snap.output, "\"op\":\"snapshot\""), 3u) << snap.output;
    EXPECT_EQ(count_of(snap.output, "\"op\":\"update\""), 1u) << snap.output;
    const auto bad = run_command(std::string(TABLEPUB_TAIL_BIN) + " --curve-server-key " + dir_ +
                                 "/alice.key_secret --curve-client-key " + dir_ + "/alice.key_secret");
    EXPECT_EQ(bad.status, 1) << bad.output;
    EXPECT_NE(bad.output.find("holds a secret key"), std::string::npos) << bad.output;
}

// A relay told to use CURVE whose keys are not right does not start, and
// says why in one line.
TEST_F(BusSecurityIT, RefusesToStartWithBadKeyFiles) {
    const auto relay = [&](const std::vector<std::string>& extra) {
        std::string cmd = std::string(TABLEPUB_RELAY_BIN) + " --db '" + relay_db_ + "' --publish " + ep("pub");
        for (const auto& a : extra) cmd += " '" + a + "'";
        return run_command(cmd);
    };
    const auto allow = dir_ + "/allow-a";
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    {
        std::ofstream(dir_ + "/bad.key_secret") << "secret-key = \"not a key\"\n";
        ::chmod((dir_ + "/bad.key_secret").c_str(), 0600);
        std::filesystem::copy_file(dir_ + "/relay.key_secret", dir_ + "/open.key_secret");
        ::chmod((dir_ + "/open.key_secret").c_str(), 0644);
        std::filesystem::create_directories(dir_ + "/empty");
    }
    const std::vector<Case> cases = {
        {{"--curve-secret-key", dir_ + "/missing.key_secret", "--curve-allow", allow},
         "cannot open CURVE secret key file"},
        {{"--curve-secret-key", dir_ + "/bad.key_secret", "--curve-allow", allow}, "is not 40 characters of Z85"},
        {{"--curve-secret-key", dir_ + "/open.key_secret", "--curve-allow", allow}, "has group or world access"},
        {{"--curve-secret-key", dir_ + "/relay.key_secret", "--curve-allow", dir_ + "/empty"}, "holds no public key"},
        {{"--curve-secret-key", dir_ + "/relay.key_secret", "--curve-allow", dir_ + "/alice.key_secret"},
         "holds a secret key"},
        {{"--curve-secret-key", dir_ + "/relay.key_secret"}, "no endpoint has an allow-list"},
        {{"--curve-allow", allow}, "no server key"},
    };
    for (const auto& c : cases) {
        const auto r = relay(c.args);
        EXPECT_EQ(r.status, 1) << r.output;
        EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
}

// The key tool writes the secret 0600 and the public 0644, and never
// replaces a key.
TEST_F(BusSecurityIT, KeygenWritesSafePermissions) {
    const auto base = dir_ + "/tool";
    const auto r = run_command(std::string(TABLEPUB_KEYGEN_BIN) + " " + base);
    ASSERT_EQ(r.status, 0) << r.output;
    struct stat st {};
    ASSERT_EQ(::stat((base + ".key_secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((base + ".key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    const auto pair = load_secret_key_file(base + ".key_secret");
    EXPECT_EQ(load_public_key_file(base + ".key"), pair.public_key);
    EXPECT_EQ(r.output, pair.public_key + "\n");
    const auto again = run_command(std::string(TABLEPUB_KEYGEN_BIN) + " " + base);
    EXPECT_EQ(again.status, 1);
    EXPECT_EQ(load_secret_key_file(base + ".key_secret").secret_key, pair.secret_key);
}

}  // namespace
}  // namespace tablepub::test
