#pragma once

// Integration-test harness: a throwaway cluster (tests/lib/pgtmp), the relay
// binary as a child process, and a ZeroMQ subscriber collecting messages.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "common/pg_connection.hpp"
#include "tablepub.pb.h"

namespace tablepub::test {

// Runs a shell command, returns its exit status and captured stdout+stderr.
struct CommandResult {
    int status = -1;
    std::string output;
};
CommandResult run_command(const std::string& cmd);

// A throwaway PostgreSQL cluster, stopped when destroyed (and by pgtmp's
// watcher when the test process dies).
class Cluster {
public:
    Cluster();
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] std::string conninfo(const std::string& dbname = "postgres") const;
    // How a relay connects: as RELAY_ROLE, a non-superuser LOGIN role that is
    // only a member of tablepub_relay (the least privilege README.md documents),
    // or as another such role made by create_relay_role.
    [[nodiscard]] std::string relay_conninfo(const std::string& dbname = "postgres",
                                             const std::string& role = RELAY_ROLE) const;
    // A fresh database with the extension installed (and RELAY_ROLE created
    // once the extension created tablepub_relay); returns its conninfo.
    std::string create_database(const std::string& name);
    // A relay role like RELAY_ROLE named `role` (made unless it exists), for
    // a test that changes the role's attributes: the cluster and RELAY_ROLE
    // are shared by the tests of a binary.
    void create_relay_role(const std::string& role);
    static constexpr const char* RELAY_ROLE = "tablepub_test_relay";
    void pgtmp(const std::string& action);

private:
    std::string root_;
    std::string dir_;
    std::string port_;
};

// The relay binary as a child process; its stderr goes to a log file.
class RelayProcess {
public:
    RelayProcess(const std::string& log_path, std::vector<std::string> args);
    ~RelayProcess();
    RelayProcess(const RelayProcess&) = delete;
    RelayProcess& operator=(const RelayProcess&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    // Waits until the log contains text (after the first occurrence of
    // `after`, if given); false on timeout or exit.
    bool wait_log(const std::string& text, std::chrono::milliseconds timeout = std::chrono::seconds(20),
                  const std::string& after = "");
    [[nodiscard]] std::string log() const;
    void kill9();
    // SIGTERM and wait; returns the exit status (or -1 on timeout).
    int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Peak RSS in kB (VmHWM) while running.
    [[nodiscard]] long peak_rss_kb() const;
    [[nodiscard]] bool running();

private:
    std::string log_path_;
    pid_t pid_ = -1;
};

struct Received {
    std::string topic;
    std::string raw;
    v1::Message msg;
    std::size_t size = 0;  // of the serialized message (also for a light subscriber)
};

// A SUB socket on a background thread that keeps every message.
class Subscriber {
public:
    // light: keep only topic and the Message envelope (seq, txid, tx_last,
    // schema_seq, an empty change), for streams of millions of messages.
    // keep_transactions: also keep the messages of the transaction topic
    // ".tx" (which an empty prefix receives too); dropped otherwise.
    explicit Subscriber(const std::vector<std::string>& endpoints, const std::string& prefix = "",
                        bool keep_heartbeats = false, bool light = false, bool keep_transactions = false);
    ~Subscriber();
    Subscriber(const Subscriber&) = delete;
    Subscriber& operator=(const Subscriber&) = delete;

    // Waits until pred(messages) holds; false on timeout.
    bool wait(const std::function<bool(const std::vector<Received>&)>& pred,
              std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Waits until `n` change messages arrived on `topic`.
    bool wait_count(const std::string& topic, std::size_t n,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
    [[nodiscard]] std::vector<Received> messages();
    [[nodiscard]] std::size_t count();

private:
    void loop(std::vector<std::string> endpoints, std::string prefix);

    zmq::context_t ctx_;
    std::atomic<bool> stop_{false};
    bool keep_heartbeats_;
    bool light_;
    bool keep_transactions_;
    std::mutex mu_;
    std::vector<Received> messages_;
    std::thread thread_;
};

// Per-topic view of received change messages after a relay restart: the
// messages by seq, checking that every duplicate is byte-identical to the
// first copy and that seqs are 1..max without a gap.
struct StreamCheck {
    std::map<std::uint64_t, const Received*> by_seq;
    std::size_t duplicates = 0;
    std::vector<std::string> problems;
};
StreamCheck check_stream(const std::vector<Received>& msgs, const std::string& topic);

// A fixture on one throwaway cluster per test suite: each test gets its own
// database (<prefix>_<test name>) and a connection to it; relays started
// with start_relay_process() are stopped after the test, and their logs are
// printed when it failed.
class ClusterTest : public ::testing::Test {
protected:
    explicit ClusterTest(std::string prefix) : prefix_(std::move(prefix)) {}
    static void SetUpTestSuite() { cluster_ = std::make_unique<Cluster>(); }
    static void TearDownTestSuite() { cluster_.reset(); }
    void SetUp() override;
    void TearDown() override;

    // Starts tablepub-relay with these arguments, logging to a file of the test's.
    RelayProcess& start_relay_process(std::vector<std::string> args);
    // The same for a test whose Subscriber (subscribed to `prefix`) must
    // receive the relay's first batch: a SUB that connected before the
    // relay bound reconnects on a timer and may subscribe after the start
    // delay. The test holds the relay lock until the relay (standing by, it
    // reads subscriptions) has read that subscription. A relay builds
    // Transaction messages only while it knows of a subscriber of ".tx"
    // (design.md, "Only for subscribers of `.tx`"): a Subscriber of "" or
    // ".tx" gated so receives them from the first batch on. Needs
    // "--log-level debug" in args (the relay logs every subscription it
    // reads); waits while a killed relay's backend still holds the lock.
    RelayProcess& start_relay_after_subscription(std::vector<std::string> args, const std::string& prefix);

    static std::unique_ptr<Cluster> cluster_;
    std::string dbname_;
    std::string conninfo_;        // as the superuser: setup and writers
    std::string relay_conninfo_;  // as Cluster::RELAY_ROLE: every relay's --db
    PgConnection db_;
    std::vector<std::unique_ptr<RelayProcess>> relays_;

private:
    std::string prefix_;
    std::vector<std::string> logs_;
};

}  // namespace tablepub::test
