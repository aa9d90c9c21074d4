#include "relay/amqp_forwarder.hpp"

#include <map>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/pg_connection.hpp"
#include "common/wire.hpp"
#include "relay/amqp_format.hpp"
#include "relay/amqp_sink.hpp"
#include "relay/sequencer.hpp"

namespace tablepub {

namespace {

// The advisory lock of the active forwarder: relay_lock_key() + 1. A
// standby relay's forwarder (or a relay that lost its lock) waits.
const char* const FORWARDER_LOCK_KEY = "8386092198838433123";

// Done batches read per query.
constexpr int BATCHES_PER_QUERY = 16;

// One done batch to forward, with each table's stream as it was before it.
struct ForwardBatch {
    Batch batch;
    std::uint64_t first_position = 0;  // 0: the batch carried no positions (before 0.3)
    std::vector<StreamState> starts;
    std::unordered_map<std::uint32_t, std::uint64_t> last_seq;
};

std::vector<ForwardBatch> load_batches(PgConnection& db, std::int64_t position) {
    // The names a stream had before a batch are those the first rename
    // from the batch on left behind, else the current ones (as the sync
    // server's replay finds them).
    auto res = db.exec_params(
        "SELECT b.batch_id, b.prev::text, b.snap::text, u.relid, u.f, u.l, u.ps, nm.schema_name, nm.table_name,"
        "       coalesce(b.first_position, 0), " +
            batch_commit_time_sql("b") +
            "  FROM (SELECT * FROM tablepub.relay_batch WHERE done IS NOT NULL AND batch_id > $1"
            "         ORDER BY batch_id LIMIT " +
            std::to_string(BATCHES_PER_QUERY) +
            ") b"
            "  LEFT JOIN LATERAL unnest(b.relids, b.first_seq, b.last_seq, b.prev_schema_seq)"
            "       AS u(relid, f, l, ps) ON true"
            "  LEFT JOIN LATERAL ("
            "    SELECT n.schema_name, n.table_name FROM ("
            "      SELECT h.schema_name, h.table_name, 0 AS o, h.from_seq FROM tablepub.relay_topic_history h"
            "       WHERE h.relid = u.relid AND h.from_seq >= u.f"
            "      UNION ALL"
            "      SELECT s.schema_name, s.table_name, 1, 0 FROM tablepub.relay_stream s WHERE s.relid = u.relid) n"
            "     ORDER BY n.o, n.from_seq LIMIT 1) nm ON true"
            " ORDER BY b.batch_id",
        {std::to_string(position)});
    std::vector<ForwardBatch> out;
    for (int i = 0; i < res.rows(); ++i) {
        const auto id = res.int64(i, 0);
        if (out.empty() || out.back().batch.id != id) {
            out.push_back(ForwardBatch{Batch{id, res.text(i, 1), res.text(i, 2), res.int64(i, 10)},
                                       static_cast<std::uint64_t>(res.int64(i, 9)),
                                       {},
                                       {}});
        }
        if (res.is_null(i, 3)) continue;  // a done batch without messages
        StreamState s;
        s.relid = static_cast<std::uint32_t>(res.int64(i, 3));
        const auto first = static_cast<std::uint64_t>(res.int64(i, 4));
        s.last_seq = first - 1;
        s.schema_seq = static_cast<std::uint64_t>(res.int64(i, 6));
        if (!res.is_null(i, 7)) {
            s.schema_name = res.text(i, 7);
            s.table_name = res.text(i, 8);
        }
        out.back().last_seq[s.relid] = static_cast<std::uint64_t>(res.int64(i, 5));
        out.back().starts.push_back(std::move(s));
    }
    return out;
}

}  // namespace

AmqpForwarder::AmqpForwarder(AmqpOptions options, std::string conninfo, FetchLimits limits)
    : options_(std::move(options)), conninfo_(std::move(conninfo)), limits_(limits), sink_name_(options_.sink_name()) {}

AmqpForwarder::~AmqpForwarder() {
    stop_.store(true);
    {
        std::lock_guard lock(mutex_);
        wake_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void AmqpForwarder::start() {
    thread_ = std::thread([this] { run(); });
}

void AmqpForwarder::notify() {
    {
        std::lock_guard lock(mutex_);
        wake_ = true;
    }
    cv_.notify_one();
}

void AmqpForwarder::idle(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, d, [this] { return wake_ || stop_.load(); });
    wake_ = false;
}

void AmqpForwarder::run() {
    std::chrono::milliseconds backoff{100};
    bool failing = false;  // one warning per outage, not one per retry
    while (!stop_.load()) {
        try {
            session();
            return;
        } catch (const std::exception& e) {
            // A session that got as far as forwarding ended an outage (if
            // any): this failure starts a new one.
            if (session_ok_) {
                failing = false;
                backoff = std::chrono::milliseconds(100);
                session_ok_ = false;
            }
            if (!failing) {
                spdlog::warn(
                    "RabbitMQ sink \"{}\": {}; retrying (ZeroMQ publishing continues; the sink catches up "
                    "from batch {} when the broker is back)",
                    sink_name_, e.what(), position_ + 1);
                failing = true;
            } else {
                spdlog::debug("RabbitMQ sink \"{}\": {}", sink_name_, e.what());
            }
        }
        idle(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

void AmqpForwarder::session() {
    PgConnection db(conninfo_);
    // Losing the position update in a crash only sends a batch again.
    db.exec(
        "SET application_name = 'tablepub-relay amqp'; SET search_path = pg_catalog, pg_temp; "
        "SET synchronous_commit = off");
    bool said = false;
    while (db.exec(std::string("SELECT pg_try_advisory_lock(") + FORWARDER_LOCK_KEY + ")").value(0, 0) != "t") {
        if (!said) spdlog::info("RabbitMQ sink \"{}\": another relay forwards to RabbitMQ; standing by", sink_name_);
        said = true;
        idle(std::chrono::milliseconds(1000));
        if (stop_.load()) return;
    }
    database_ = db.exec("SELECT current_database()").text(0, 0);
    // A new sink starts at the relay's position: its consumers take a
    // snapshot from the relay like any new subscriber.
    db.exec_params(
        "INSERT INTO tablepub.relay_amqp_position (sink, last_batch, consumed)"
        " SELECT $1, last_batch, consumed FROM tablepub.relay_state ON CONFLICT (sink) DO NOTHING",
        {sink_name_});
    position_ =
        db.exec_params("SELECT last_batch FROM tablepub.relay_amqp_position WHERE sink = $1", {sink_name_}).int64(0, 0);
    AmqpTarget target;
    target.url = options_.url;
    target.exchange = options_.effective_exchange();
    target.durable = options_.effective_durable();
    if (options_.format == AmqpFormat::oslo) target.queue = options_.oslo_topic + ".info";
    target.timeout = options_.confirm_timeout;
    AmqpSink sink(target);
    AmqpPublisher publisher(options_, database_);
    spdlog::info("RabbitMQ sink \"{}\" on {} (exchange \"{}\", {} format): forwarding from batch {}", sink_name_,
                 redact_amqp_url(options_.url), target.exchange,
                 options_.format == AmqpFormat::oslo ? "oslo" : "protobuf", position_ + 1);
    session_ok_ = true;
    while (!stop_.load()) {
        if (forward_some(db, sink, publisher) == 0) {
            idle(std::chrono::milliseconds(1000));
            sink.keepalive();
        }
    }
}

std::size_t AmqpForwarder::forward_some(PgConnection& db, AmqpSink& sink, AmqpPublisher& publisher) {
    auto batches = load_batches(db, position_);
    std::string tx_message;
    for (auto& fb : batches) {
        if (stop_.load()) break;
        Sequencer seq([&](std::string_view, HeadroomBuffer& body) { publisher.publish(sink, body.view()); },
                      [&](std::uint32_t relid) -> std::pair<std::string, std::string> {
                          throw Error("batch " + std::to_string(fb.batch.id) + " has outbox rows of table oid " +
                                      std::to_string(relid) + " that it did not publish");
                      },
                      [&](const TransactionEnd& tx) {
                          tx_message.clear();
                          encode_transaction_message(tx_message, tx.position, tx.txid, tx.commit_time, tx.tables.data(),
                                                     tx.tables.size());
                          publisher.publish(sink, tx_message);
                      });
        seq.load(fb.starts, fb.first_position == 0 ? 0 : fb.first_position - 1);
        // A batch published before 0.3 had no positions (and commit time 0).
        seq.begin_batch(fb.batch.commit_time, fb.first_position > 0);
        BatchReader reader(db, limits_);
        const auto limit = static_cast<std::uint64_t>(limits_.max_change_bytes);
        reader.read(
            fb.batch, [](std::uint32_t) {}, [&](OutboxRow& row) { sequence_row(seq, row, limit); }, [] {});
        seq.end_batch();
        // Every message the relay published for the batch, no more, no
        // fewer: else the outbox lost rows (it must not, the position holds
        // maintain() back) and the numbers would not be the relay's.
        for (const auto& [relid, last] : fb.last_seq) {
            if (seq.sent_seq(relid) != last) {
                throw Error("batch " + std::to_string(fb.batch.id) + " gave seq " +
                            std::to_string(seq.sent_seq(relid)) + " for table oid " + std::to_string(relid) +
                            " where the relay published up to " + std::to_string(last));
            }
        }
        sink.wait_confirms(options_.confirm_timeout);
        db.exec_params(
            "UPDATE tablepub.relay_amqp_position SET last_batch = $2, consumed = $3::pg_snapshot, updated = now()"
            " WHERE sink = $1 AND last_batch < $2",
            {sink_name_, std::to_string(fb.batch.id), fb.batch.snap});
        position_ = fb.batch.id;
    }
    return batches.size();
}

}  // namespace tablepub
