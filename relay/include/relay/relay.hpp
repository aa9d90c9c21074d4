#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "common/bus_security.hpp"
#include "common/pg_connection.hpp"
#include "common/zmq_util.hpp"
#include "relay/amqp_forwarder.hpp"
#include "relay/audience.hpp"
#include "relay/batch_reader.hpp"
#include "relay/bus.hpp"
#include "relay/relay_observer.hpp"
#include "relay/relay_options.hpp"
#include "relay/sequencer.hpp"
#include "relay/state_store.hpp"

namespace tablepub {

// The relay daemon: holds the relay lock, drains the outbox batch by batch
// and publishes every change, sends heartbeats, cleans the outbox, and
// survives connection loss by reconnecting and redoing from durable state.
class Relay {
public:
    // audiences: the endpoint groups with their keys loaded
    // (load_audiences); empty: one plain group on options.publish.
    explicit Relay(RelayOptions options, std::vector<Audience> audiences = {});
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;
    ~Relay();

    // Reports the relay's work to `observer` (metrics), which must outlive
    // the relay. Call before run().
    void set_observer(RelayObserver& observer) noexcept { observer_ = &observer; }

    // Runs until stop is requested; returns the process exit code.
    int run();

    // Async-signal-safe: asks the relay to finish its batch and exit.
    static void request_stop() noexcept;
    // Installs SIGTERM/SIGINT handlers calling request_stop().
    static void install_signal_handlers();

private:
    using clock = std::chrono::steady_clock;

    // (Re)connects, LISTENs, takes the lock (standing by while another relay
    // holds it) and loads the streams. Returns false when stopping.
    bool activate(bool first);
    // Publishes batches until none is left; notified: a NOTIFY woke us.
    void drain(bool notified);
    void process(const Batch& batch);
    // Waits (at most 1 s) while more than --fetch-bytes of large messages
    // are still queued in ZeroMQ.
    // Has the sequencer report transaction ends only while some
    // subscriber receives ".tx".
    void follow_transaction_subscribers();
    void wait_for_send_queue();
    // Publishes a RESYNC in place of a change over --max-change-bytes.
    void warn_oversized(const OutboxRow& row);
    // An outbox row published as a RESYNC because it is a malformed pack,
    // logged once its batch is read (the cursor holds the connection till
    // then).
    struct MalformedRow {
        std::uint32_t relid = 0;
        std::uint64_t txid = 0;
        std::uint64_t row_in_tx = 0;  // its place among the transaction's rows (by pos, from 0)
        std::string problem;
    };
    void warn_malformed(const MalformedRow& m);
    // Spaces batches by the previous batch's size, up to --batch-interval:
    // under load, fewer and larger batches cost the database less.
    void pace();
    // Waits for a notification, the poll interval (linger_poll while
    // active), a timer or a stop; true when notifications arrived.
    bool wait_for_work();
    void heartbeat_if_due();
    // Tells a renamed table's former topic where the table went.
    void announce_move(const TopicMove& m);
    void announce_new_moves();
    void maintain_if_due();
    // Reads the outbox sizes for the observer every outbox_interval().
    void observe_outbox_if_due();
    // Records a batch in hand with the observer; `taken`: before its snapshot.
    void observe_batch(const std::optional<Batch>& batch, clock::time_point taken);
    [[nodiscard]] bool stopping() const noexcept;
    // Sleeps up to d, returning early on a stop request.
    void sleep_interruptible(std::chrono::milliseconds d);
    // Reads the subscription changes the publish sockets queued (see
    // follow_transaction_subscribers), also while no batch runs.
    void take_subscription_changes();
    // Reads whether some subscriber receives ".tx" now, and logs (debug)
    // when that changes: tests wait for it before they let a relay publish.
    bool transaction_subscribers();
    // Blocks on fd (may be -1) and the stop pipe for at most d.
    void wait_fd(int fd, std::chrono::milliseconds d);

    RelayOptions options_;
    std::vector<Audience> audiences_;
    zmq::context_t zmq_ctx_;
    // Declared before publisher_ so that it outlives the PUB sockets.
    std::unique_ptr<ZapHandler> zap_;
    std::unique_ptr<Bus> publisher_;
    PgConnection conn_;
    StateStore store_;
    Sequencer sequencer_;
    std::unordered_map<std::uint32_t, std::pair<std::string, std::string>> names_;
    bool transaction_subscribers_ = false;   // as last read, for the log line
    std::vector<TopicMove> unstored_moves_;  // announced, stored after the batch
    clock::time_point next_heartbeat_;
    clock::time_point next_maintain_;
    RelayObserver default_observer_;
    RelayObserver* observer_ = &default_observer_;
    clock::time_point next_outbox_stats_;
    // Until then the relay polls every linger_poll instead of waiting for a
    // NOTIFY: writers throttle their NOTIFYs (tablepub.notify_interval).
    clock::time_point active_until_;
    clock::time_point last_batch_at_;
    std::uint64_t last_batch_rows_ = 0;
    // The next batch is read transaction by transaction (BatchPlan): the
    // first one after the start or a reconnection, where a backlog may wait,
    // and every one after a batch of at least a FETCH of rows, while the
    // relay catches up.
    bool expect_backlog_ = true;
    // The RabbitMQ sink, started once this relay is active (--amqp).
    std::unique_ptr<AmqpForwarder> amqp_;
    // (table, txid) of the last oversized change logged: one line per pair.
    std::pair<std::uint32_t, std::uint64_t> last_oversized_{0, 0};
    std::vector<MalformedRow> malformed_;  // of the batch being read
    // The transaction of the row last read and how many of its rows came
    // before it: what names a malformed row's pos afterwards.
    std::uint64_t row_txid_ = 0;
    std::uint64_t row_in_tx_ = 0;
};

}  // namespace tablepub
