#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace tablepub::test {

CommandResult run_command(const std::string& cmd) {
    CommandResult r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) throw std::runtime_error("popen failed: " + cmd);
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

Cluster::Cluster() {
    char tmpl[] = "/tmp/tablepub-relay-test.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = tmpl;
    ::chmod(root_.c_str(), 0755);  // the postgres user must reach the cluster dir
    dir_ = root_ + "/pg";
    const auto r =
        run_command(std::string(TABLEPUB_PGTMP) + " start " + dir_ + " --owner " + std::to_string(::getpid()));
    if (r.status != 0) throw std::runtime_error("pgtmp start failed: " + r.output);
    std::ifstream env(dir_ + "/env");
    std::string line;
    while (std::getline(env, line)) {
        if (line.rfind("export PGPORT=", 0) == 0) port_ = line.substr(14);
    }
}

Cluster::~Cluster() {
    run_command(std::string(TABLEPUB_PGTMP) + " stop " + dir_);
    run_command("rm -rf " + root_);
}

std::string Cluster::conninfo(const std::string& dbname) const {
    return "host=" + dir_ + " port=" + port_ + " user=postgres dbname=" + dbname;
}

std::string Cluster::create_database(const std::string& name) {
    {
        PgConnection admin(conninfo());
        admin.exec("CREATE DATABASE " + admin.escape_identifier(name));
    }
    PgConnection db(conninfo(name));
    db.exec("CREATE EXTENSION tablepub");
    // Roles belong to the cluster: the first database of the suite makes it.
    create_relay_role(RELAY_ROLE);
    return conninfo(name);
}

void Cluster::create_relay_role(const std::string& role) {
    PgConnection db(conninfo());
    if (db.exec_params("SELECT FROM pg_catalog.pg_roles WHERE rolname = $1", {role}).rows() == 0) {
        db.exec("CREATE ROLE " + db.escape_identifier(role) +
                " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS IN ROLE tablepub_relay");
    }
}

std::string Cluster::relay_conninfo(const std::string& dbname, const std::string& role) const {
    return "host=" + dir_ + " port=" + port_ + " user=" + role + " dbname=" + dbname;
}

void Cluster::pgtmp(const std::string& action) {
    const auto r = run_command(std::string(TABLEPUB_PGTMP) + " " + action + " " + dir_);
    if (r.status != 0) throw std::runtime_error("pgtmp " + action + " failed: " + r.output);
}

RelayProcess::RelayProcess(const std::string& log_path, std::vector<std::string> args) : log_path_(log_path) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> argv;
        std::string bin = TABLEPUB_RELAY_BIN;
        argv.push_back(bin.data());
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(bin.c_str(), argv.data());
        ::_exit(127);
    }
}

RelayProcess::~RelayProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

std::string RelayProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool RelayProcess::running() {
    if (pid_ <= 0) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

bool RelayProcess::wait_log(const std::string& text, std::chrono::milliseconds timeout, const std::string& after) {
    const auto found = [&] {
        const auto l = log();
        const auto from = l.find(after);
        return from != std::string::npos && l.find(text, from + after.size()) != std::string::npos;
    };
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (found()) return true;
        if (!running()) return found();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void RelayProcess::kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

int RelayProcess::terminate(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
}

long RelayProcess::peak_rss_kb() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

Subscriber::Subscriber(const std::vector<std::string>& endpoints, const std::string& prefix, bool keep_heartbeats,
                       bool light, bool keep_transactions)
    : ctx_(1), keep_heartbeats_(keep_heartbeats), light_(light), keep_transactions_(keep_transactions) {
    thread_ = std::thread([this, endpoints, prefix] { loop(endpoints, prefix); });
}

Subscriber::~Subscriber() {
    stop_ = true;
    thread_.join();
}

void Subscriber::loop(std::vector<std::string> endpoints, std::string prefix) {
    zmq::socket_t sock(ctx_, zmq::socket_type::sub);
    sock.set(zmq::sockopt::rcvhwm, 0);
    sock.set(zmq::sockopt::reconnect_ivl, 20);
    sock.set(zmq::sockopt::rcvtimeo, 50);
    sock.set(zmq::sockopt::subscribe, prefix);
    for (const auto& ep : endpoints) sock.connect(ep);
    std::vector<Received> local;
    v1::Message scratch;
    auto flush = [&] {
        if (local.empty()) return;
        std::lock_guard lock(mu_);
        for (auto& m : local) messages_.push_back(std::move(m));
        local.clear();
    };
    while (!stop_) {
        zmq::message_t topic, body;
        // Hand messages over in bulk, and whenever the socket runs dry.
        if (local.size() >= 1024) flush();
        if (!sock.recv(topic, zmq::recv_flags::dontwait)) {
            flush();
            if (!sock.recv(topic)) continue;
        }
        if (!topic.more() || !sock.recv(body)) continue;
        Received r;
        r.topic = topic.to_string();
        if (r.topic == ".tx" && !keep_transactions_) continue;
        r.size = body.size();
        if (light_) {
            // One reused message object: no allocation per received change.
            if (!scratch.ParseFromArray(body.data(), static_cast<int>(body.size()))) continue;
            if (scratch.has_heartbeat() && !keep_heartbeats_) continue;
            r.msg.set_seq(scratch.seq());
            r.msg.set_txid(scratch.txid());
            r.msg.set_tx_last(scratch.tx_last());
            r.msg.set_schema_seq(scratch.schema_seq());
            r.msg.set_position(scratch.position());
            if (scratch.has_change()) r.msg.mutable_change()->set_op(scratch.change().op());
        } else {
            r.raw = body.to_string();
            if (!r.msg.ParseFromString(r.raw)) continue;
            if (r.msg.has_heartbeat() && !keep_heartbeats_) continue;
        }
        local.push_back(std::move(r));
    }
}

bool Subscriber::wait(const std::function<bool(const std::vector<Received>&)>& pred,
                      std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        {
            std::lock_guard lock(mu_);
            if (pred(messages_)) return true;
        }
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool Subscriber::wait_count(const std::string& topic, std::size_t n, std::chrono::milliseconds timeout) {
    std::size_t seen = 0, scanned = 0;
    return wait(
        [&](const std::vector<Received>& msgs) {
            for (; scanned < msgs.size(); ++scanned) {
                if (msgs[scanned].topic == topic && msgs[scanned].msg.has_change()) ++seen;
            }
            return seen >= n;
        },
        timeout);
}

std::vector<Received> Subscriber::messages() {
    std::lock_guard lock(mu_);
    return messages_;
}

std::size_t Subscriber::count() {
    std::lock_guard lock(mu_);
    return messages_.size();
}

StreamCheck check_stream(const std::vector<Received>& msgs, const std::string& topic) {
    StreamCheck c;
    for (const auto& m : msgs) {
        if (m.topic != topic || !m.msg.has_change()) continue;
        auto [it, inserted] = c.by_seq.emplace(m.msg.seq(), &m);
        if (!inserted) {
            ++c.duplicates;
            if (it->second->raw != m.raw) c.problems.push_back("seq " + std::to_string(m.msg.seq()) + " differs");
        }
    }
    std::uint64_t expect = 1;
    for (const auto& [seq, m] : c.by_seq) {
        if (seq != expect) {
            c.problems.push_back("gap before seq " + std::to_string(seq) + " (expected " + std::to_string(expect) +
                                 ")");
        }
        expect = seq + 1;
    }
    return c;
}

std::unique_ptr<Cluster> ClusterTest::cluster_;

void ClusterTest::SetUp() {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    dbname_ = prefix_ + "_" + name;
    conninfo_ = cluster_->create_database(dbname_);
    relay_conninfo_ = cluster_->relay_conninfo(dbname_);
    db_ = PgConnection(conninfo_);
}

void ClusterTest::TearDown() {
    relays_.clear();
    if (HasFailure()) {
        for (const auto& log : logs_) std::cerr << "---- " << log << "\n" << run_command("tail -40 " + log).output;
    }
    // The cluster outlives this test (one per test binary): undo what a
    // test that stopped half-way may have left cluster-wide, a prepared
    // transaction (it holds back every later snapshot). (A test that
    // changes a relay role's attributes uses a role of its own,
    // Cluster::create_relay_role.)
    try {
        PgConnection admin(conninfo_);
        // (ROLLBACK PREPARED runs outside a transaction block, in the
        // database where the transaction was prepared: this test's.)
        const auto prepared = admin.exec("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()");
        for (int i = 0; i < prepared.rows(); ++i) {
            admin.exec("ROLLBACK PREPARED " + admin.escape_literal(prepared.text(i, 0)));
        }
    } catch (const std::exception& e) {
        ADD_FAILURE() << "could not reset the shared cluster after the test: " << e.what();
    }
}

RelayProcess& ClusterTest::start_relay_process(std::vector<std::string> args) {
    const auto log = cluster_->dir() + "/" + dbname_ + "-relay" + std::to_string(logs_.size()) + ".log";
    logs_.push_back(log);
    relays_.push_back(std::make_unique<RelayProcess>(log, std::move(args)));
    return *relays_.back();
}

RelayProcess& ClusterTest::start_relay_after_subscription(std::vector<std::string> args, const std::string& prefix) {
    // Blocks while a killed relay's backend still holds the lock.
    PgConnection gate(conninfo_);
    gate.exec("SELECT pg_advisory_lock(tablepub.relay_lock_key())");
    auto& relay = start_relay_process(std::move(args));
    EXPECT_TRUE(relay.wait_log("subscription added \"" + prefix + "\"", std::chrono::seconds(30)))
        << "the relay never read the subscription \"" << prefix << "\"";
    return relay;  // closing gate lets the relay take over
}

}  // namespace tablepub::test
