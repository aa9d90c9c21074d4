#include "relay/relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <map>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "relay/batch_reader.hpp"
#include "relay/wait_readable.hpp"

namespace tablepub {

namespace {

std::atomic<bool> g_stop{false};
int g_stop_pipe[2] = {-1, -1};

void on_signal(int) { Relay::request_stop(); }

}  // namespace

void Relay::request_stop() noexcept {
    g_stop.store(true);
    if (g_stop_pipe[1] >= 0) {
        const char c = 's';
        [[maybe_unused]] const auto n = ::write(g_stop_pipe[1], &c, 1);
    }
}

void Relay::install_signal_handlers() {
    if (g_stop_pipe[0] < 0) {
        if (::pipe2(g_stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) throw Error("cannot create the stop pipe");
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

Relay::Relay(RelayOptions options, std::vector<Audience> audiences)
    : options_(std::move(options)),
      audiences_(std::move(audiences)),
      zmq_ctx_(1),
      store_(conn_),
      sequencer_(
          [this](std::string_view topic, HeadroomBuffer& body) { publisher_->send(topic, body); },
          [this](std::uint32_t relid) {
              const auto it = names_.find(relid);
              return it != names_.end() ? it->second : std::pair<std::string, std::string>{"", std::to_string(relid)};
          },
          [this](const TransactionEnd& tx) {
              // The former topic hears of a rename before the Transaction
              // that made it: a set subscriber following the former name
              // stops before it would apply that transaction (or a later
              // one) without the renamed table's part.
              announce_new_moves();
              publisher_->send_transaction(tx);
          }) {}

Relay::~Relay() = default;

bool Relay::stopping() const noexcept { return g_stop.load(); }

void Relay::wait_fd(int fd, std::chrono::milliseconds d) {
    wait_readable(g_stop_pipe[0], fd, d);
    char buf[16];
    while (g_stop_pipe[0] >= 0 && ::read(g_stop_pipe[0], buf, sizeof buf) > 0) {
    }
}

void Relay::sleep_interruptible(std::chrono::milliseconds d) {
    const auto until = clock::now() + d;
    while (!stopping() && clock::now() < until) {
        take_subscription_changes();
        wait_fd(-1, std::min(std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()),
                             std::chrono::milliseconds(1000)));
    }
}

void Relay::take_subscription_changes() {
    // The publish sockets queue subscription changes until the relay reads
    // them; read them while waiting too (standing by, backing off), so that
    // the queue stays short whatever subscribers do meanwhile.
    if (publisher_) (void)transaction_subscribers();
}

bool Relay::transaction_subscribers() {
    const bool now = publisher_->transaction_topic_subscribed();
    if (now != transaction_subscribers_) {
        spdlog::debug(now ? "a subscriber receives .tx: building Transaction messages"
                          : "no subscriber receives .tx: no Transaction messages");
        transaction_subscribers_ = now;
    }
    return now;
}

bool Relay::activate(bool first) {
    std::chrono::milliseconds backoff{100};
    bool fatal = first;
    for (;;) {
        if (stopping()) return false;
        observer_->set_role(RelayRole::connecting);
        try {
            conn_ = PgConnection(options_.db);
            store_.check_extension();
            if (!first) observer_->reconnect();
            fatal = false;
            // Qualified names only: no user-created function or operator may
            // stand in for one the relay's SQL calls. Standard strings, which
            // the bytea parameters of relay_finish_batch need, whatever the
            // role or database sets.
            conn_.exec(
                "SET application_name = 'tablepub-relay'; SET search_path = pg_catalog, pg_temp; "
                "SET standard_conforming_strings = on");
            store_.make_commits_durable();
            if (const auto holder = store_.try_lock()) {
                spdlog::info("another relay (backend pid {}) is active; standing by", *holder);
                observer_->set_role(RelayRole::standby);
                store_.send_lock_wait();
                // Wait for the lock, a stop request, or the connection to go.
                for (;;) {
                    take_subscription_changes();
                    wait_fd(conn_.socket(), std::chrono::milliseconds(1000));
                    if (stopping()) return false;
                    conn_.consume_notifications();
                    if (conn_.result_ready()) break;
                }
                (void)conn_.wait_result();
                spdlog::info("took over as the active relay");
            }
            // The open batch a previous relay recorded is redone below; make
            // sure it is on disk before anything of it goes out again.
            store_.flush_wal();
            conn_.exec("LISTEN tablepub");
            sequencer_.load(store_.load_streams(), store_.load_last_position());
            sequencer_.load_moves(store_.load_moves());
            unstored_moves_.clear();  // a redone batch finds them again
            names_.clear();
            if (observer_->outbox_interval().count() > 0) {
                // Lag after a restart counts from the last published batch,
                // not from now: the outage is lag too.
                const auto age = std::chrono::duration<double>(published_age_seconds(conn_));
                observer_->published_as_of(clock::now() - std::chrono::duration_cast<clock::duration>(age));
                next_outbox_stats_ = clock::now();
            }
            observer_->set_role(RelayRole::active);
            spdlog::info("active: database backend pid {}, {} streams", conn_.backend_pid(),
                         sequencer_.streams().size());
            return true;
        } catch (const ConfigError&) {
            throw;
        } catch (const Error& e) {
            // At startup an unreachable database is a configuration problem.
            if (fatal) throw ConfigError(describe(e));
            spdlog::warn("{}; retrying in {} ms", describe(e), backoff.count());
        }
        conn_ = PgConnection();
        sleep_interruptible(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

void Relay::process(const Batch& batch) {
    const auto start = clock::now();
    follow_transaction_subscribers();
    sequencer_.begin_batch(batch.commit_time);
    malformed_.clear();
    row_txid_ = 0;
    BatchReader reader(conn_, FetchLimits{options_.fetch_rows, options_.fetch_bytes, options_.max_change_bytes});
    const auto rows = reader.read(
        batch,
        [this](std::uint32_t relid) {
            if (!sequencer_.streams().contains(relid) && !names_.contains(relid)) {
                names_[relid] = store_.table_name(relid);
            }
        },
        [this](OutboxRow& row) {
            if (row.txid != row_txid_) {
                row_txid_ = row.txid;
                row_in_tx_ = 0;
            }
            if (row.oversized) warn_oversized(row);
            auto out = sequence_row(sequencer_, row, static_cast<std::uint64_t>(options_.max_change_bytes));
            if (!out.malformed.empty()) {
                malformed_.push_back(MalformedRow{row.relid, row.txid, row_in_tx_, std::move(out.malformed)});
            }
            ++row_in_tx_;
        },
        [this] {
            follow_transaction_subscribers();
            heartbeat_if_due();
            wait_for_send_queue();
        },
        expect_backlog_ ? BatchPlan::per_transaction : BatchPlan::sort_whole);
    const bool per_transaction = expect_backlog_;
    expect_backlog_ = rows >= static_cast<std::uint64_t>(options_.fetch_rows);
    sequencer_.end_batch();
    for (const auto& m : malformed_) warn_malformed(m);
    malformed_.clear();
    announce_new_moves();  // of a batch without positions (no Transaction announced them)
    last_batch_rows_ = rows;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - start).count();
    spdlog::debug("batch {} ({} .. {}): {} rows in {} us ({} plan); {} bytes of large messages queued in ZeroMQ",
                  batch.id, batch.prev, batch.snap, rows, us, per_transaction ? "per-transaction" : "one-sort",
                  publisher_->queued_bytes());
}

void Relay::follow_transaction_subscribers() {
    // Transaction messages are built only while someone receives them (a
    // subscriber of ".tx", "" or a prefix of it): a subscriber of tables
    // only, the common case, costs the relay nothing for them. One that
    // subscribes later gets them from its next transaction on, and replays
    // the positions before it like any subscriber that joins mid-stream.
    sequencer_.report_transactions(transaction_subscribers());
}

void Relay::wait_for_send_queue() {
    // Large messages the subscribers have not taken yet stay in memory:
    // before reading more, give ZeroMQ time to send them. Subscribers that
    // keep up take them within milliseconds; one that stopped reading keeps
    // its queue (up to --send-hwm messages) and is not waited for longer
    // than a second at a time.
    const auto until = clock::now() + std::chrono::seconds(1);
    while (publisher_->queued_bytes() > static_cast<std::size_t>(options_.fetch_bytes) && clock::now() < until &&
           !stopping()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void Relay::warn_oversized(const OutboxRow& row) {
    // Publishing it would take more memory than the operator allowed (or
    // more than a protobuf message can hold): subscribers of the table get
    // a RESYNC in its place (sequence_row) and take a new snapshot.
    const auto& s = sequencer_.stream(row.relid);
    const auto limit = static_cast<std::uint64_t>(options_.max_change_bytes);
    if (last_oversized_ != std::make_pair(row.relid, row.txid)) {
        last_oversized_ = {row.relid, row.txid};
        spdlog::warn(
            "change of table {}.{} in transaction {} is {} bytes, over --max-change-bytes {}: published as RESYNC "
            "(later ones of this table and transaction are not logged)",
            s.schema_name, s.table_name, row.txid, row.size, limit);
    }
}

void Relay::warn_malformed(const MalformedRow& m) {
    // The row is corrupt (a bug or a damaged outbox): its changes cannot be
    // told apart, and its table's subscribers got a RESYNC in its place
    // (sequence_row). Its pos lets the operator find it for a report.
    const auto& s = sequencer_.stream(m.relid);
    std::string pos = "unknown";
    try {
        pos = store_.outbox_row_pos(m.txid, m.row_in_tx);
    } catch (const DbError& e) {
        pos += " (" + describe(e) + ")";
    }
    spdlog::warn(
        "outbox row of table {}.{} (oid {}) in transaction {} at pos {} is a malformed pack of changes: {}; published "
        "as RESYNC",
        s.schema_name, s.table_name, m.relid, m.txid, pos, m.problem);
}

void Relay::drain(bool notified) {
    // Woken by a NOTIFY: some transaction with outbox rows committed, so
    // record the batch without scanning for rows first; otherwise (poll)
    // record one only when there are rows.
    pace();
    const auto taken = clock::now();
    auto batch = store_.next_batch(notified);
    observe_batch(batch, taken);
    if (batch || notified) active_until_ = clock::now() + options_.linger;
    while (batch) {
        const auto started = clock::now();
        process(*batch);
        auto took = clock::now() - started;
        // Notifications that arrived while publishing: chain the next batch
        // into the same commit.
        const bool more = conn_.consume_notifications() > 0;
        if (more) pace();
        const auto updates = sequencer_.batch_updates();
        const auto finishing = clock::now();
        batch = store_.finish_and_next(*batch, updates, sequencer_.last_position(), more);
        took += clock::now() - finishing;
        observer_->batch_done(took, updates);
        if (batch) observe_batch(batch, finishing);
        if (amqp_) amqp_->notify();
        if (!unstored_moves_.empty()) {
            store_.record_moves(unstored_moves_);
            unstored_moves_.clear();
        }
        heartbeat_if_due();
        // A stop request waits for the batch in hand, not for the backlog.
        if (stopping()) return;
    }
}

void Relay::observe_batch(const std::optional<Batch>& batch, clock::time_point taken) {
    if (batch) {
        observer_->batch_in_hand(taken, xids_between(batch->prev, batch->snap));
    } else {
        observer_->caught_up(taken);
    }
}

void Relay::pace() {
    // 100 us per row of the previous batch, at most --batch-interval: at a
    // thousand single-row transactions a second this waits a fraction of a
    // millisecond; at tens of thousands of rows a second batches settle at
    // --batch-interval apart, so their fixed cost (two commits, a cursor)
    // stops competing with the writers for the CPU.
    const auto wait = std::min<std::chrono::microseconds>(
        options_.batch_interval, std::chrono::microseconds(100) * static_cast<std::int64_t>(last_batch_rows_));
    const auto due = last_batch_at_ + wait;
    const auto now = clock::now();
    if (due > now) {
        if (due - now < std::chrono::milliseconds(1)) {
            std::this_thread::sleep_for(due - now);
        } else {
            sleep_interruptible(std::chrono::ceil<std::chrono::milliseconds>(due - now));
        }
    }
    last_batch_at_ = clock::now();
}

void Relay::heartbeat_if_due() {
    const auto now = clock::now();
    if (now < next_heartbeat_) return;
    next_heartbeat_ = now + options_.heartbeat_interval;
    follow_transaction_subscribers();  // also reads them while idle
    const auto interval = static_cast<std::uint64_t>(options_.heartbeat_interval.count());
    // The transaction topic's: seq = position = the last transaction whose
    // every message went out (the table heartbeats carry it too).
    const auto position = sequencer_.sent_position();
    publisher_->send_all(TRANSACTION_TOPIC, encode_heartbeat({}, {}, position, 0, interval, {}, position));
    // One heartbeat per topic: a published table's; else a renamed table's
    // former topic says where it went; else an unpublished table's says so
    // (of several dropped tables of one name, the newest oid's).
    std::map<std::string, std::pair<std::uint32_t, const StreamState*>> unpublished;
    std::set<std::string> live;
    for (const auto& [relid, s] : sequencer_.streams()) {
        auto topic = make_topic(s.schema_name, s.table_name);
        if (s.published) {
            publisher_->send(topic, encode_heartbeat(s.schema_name, s.table_name, sequencer_.sent_seq(relid),
                                                     s.schema_seq, interval, {}, position));
            live.insert(std::move(topic));
        } else {
            auto& u = unpublished[topic];
            if (u.second == nullptr || relid > u.first) u = {relid, &s};
        }
    }
    for (const auto& [topic, m] : sequencer_.moves()) {
        if (!live.insert(topic).second) continue;
        announce_move(m);
    }
    for (const auto& [topic, u] : unpublished) {
        if (live.contains(topic)) continue;
        const auto& s = *u.second;
        HeartbeatNotice notice;
        notice.unpublished = true;
        publisher_->send(topic, encode_heartbeat(s.schema_name, s.table_name, sequencer_.sent_seq(u.first),
                                                 s.schema_seq, interval, notice, position));
    }
    observer_->heartbeat();
}

// A renamed table's former topic hears at once where it went; the move is
// stored once the batch is (finish_and_next records the former names).
void Relay::announce_new_moves() {
    for (auto& m : sequencer_.take_new_moves()) {
        announce_move(m);
        unstored_moves_.push_back(std::move(m));
    }
}

void Relay::announce_move(const TopicMove& m) {
    const auto interval = static_cast<std::uint64_t>(options_.heartbeat_interval.count());
    HeartbeatNotice notice;
    notice.moved_to_schema = m.to_schema;
    notice.moved_to_table = m.to_table;
    publisher_->send(make_topic(m.schema_name, m.table_name),
                     encode_heartbeat(m.schema_name, m.table_name, m.seq, m.seq, interval, notice));
}

void Relay::maintain_if_due() {
    const auto now = clock::now();
    if (now < next_maintain_) return;
    next_maintain_ = now + options_.maintain_interval;
    try {
        spdlog::debug("maintenance: {}", store_.maintain());
        observer_->maintained(true);
    } catch (const ConnectionLost&) {
        throw;
    } catch (const DbError& e) {
        spdlog::warn("outbox maintenance failed: {}", describe(e));
        observer_->maintained(false);
    }
}

void Relay::observe_outbox_if_due() {
    const auto interval = observer_->outbox_interval();
    const auto now = clock::now();
    if (interval.count() <= 0 || now < next_outbox_stats_) return;
    next_outbox_stats_ = now + interval;
    try {
        observer_->outbox(read_outbox_partitions(conn_));
    } catch (const ConnectionLost&) {
        throw;
    } catch (const DbError& e) {
        spdlog::warn("cannot read the outbox sizes for the metrics: {}", describe(e));
    }
}

bool Relay::wait_for_work() {
    // Notifications that arrived while busy mean there is more to do.
    if (conn_.consume_notifications() > 0) return true;
    const auto now = clock::now();
    const auto poll = now < active_until_ ? options_.linger_poll : options_.poll_interval;
    auto until = std::min({now + poll, next_heartbeat_, next_maintain_});
    if (until < now) until = now;
    wait_fd(conn_.socket(), std::chrono::duration_cast<std::chrono::milliseconds>(until - now));
    return !stopping() && conn_.consume_notifications() > 0;
}

int Relay::run() {
    if (audiences_.empty()) {
        Audience plain;
        plain.name = "default";
        plain.publish = options_.publish;
        audiences_.push_back(std::move(plain));
    }
    // The ZAP handler first: a socket with a ZAP domain and no handler in
    // its context lets every client in.
    const bool restricted = audiences_restricted(audiences_);
    if (restricted) zap_ = std::make_unique<ZapHandler>(zmq_ctx_, zap_domains(audiences_));
    publisher_ = std::make_unique<Bus>(zmq_ctx_, audiences_, options_.send_hwm, restricted);
    if (zap_) publisher_->watch(*zap_);
    const auto bound = clock::now();
    if (!activate(true)) return 0;
    if (options_.amqp.enabled()) {
        // It follows the batches this relay marks done, from a position of
        // its own; the ZeroMQ path never waits for it.
        amqp_ = std::make_unique<AmqpForwarder>(
            options_.amqp, options_.db,
            FetchLimits{options_.fetch_rows, options_.fetch_bytes, options_.max_change_bytes});
        amqp_->start();
    }
    // PUB drops what it sends before a subscriber's connection is up: give
    // subscribers (reconnecting after a relay restart) a moment.
    const auto settle = bound + options_.start_delay - clock::now();
    if (settle.count() > 0) sleep_interruptible(std::chrono::duration_cast<std::chrono::milliseconds>(settle));
    for (const auto& a : audiences_) {
        for (const auto& ep : a.publish) {
            spdlog::info("publishing on {} (group \"{}\", {}, {})", ep, a.name,
                         a.curve ? "CURVE, " + std::to_string(a.allowed.size()) + " client keys" : "plain",
                         a.tables.describe());
        }
    }
    next_heartbeat_ = clock::now();
    next_maintain_ = clock::now() + options_.maintain_interval;
    bool notified = false;  // the first round looks for rows itself
    while (!stopping()) {
        try {
            drain(notified);
            if (stopping()) break;
            heartbeat_if_due();
            maintain_if_due();
            observe_outbox_if_due();
            notified = wait_for_work();
        } catch (const ConfigError&) {
            throw;
        } catch (const Error& e) {
            if (dynamic_cast<const ConnectionLost*>(&e)) {
                observer_->error("connection_lost");
                spdlog::warn("{}; reconnecting", describe(e));
            } else {
                observer_->error("database");
                spdlog::error("{}; reconnecting to redo from the durable state", describe(e));
                sleep_interruptible(std::chrono::milliseconds(1000));
            }
            conn_ = PgConnection();
            if (!activate(false)) break;
            notified = false;
            expect_backlog_ = true;  // writers went on while the database or the connection was away
        }
    }
    spdlog::info("stopped");
    return 0;
}

}  // namespace tablepub
