#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relay/sequencer.hpp"

namespace tablepub {

class PgConnection;

// One batch: the transactions visible in `snap` and not in `prev`.
struct Batch {
    std::int64_t id = 0;
    std::string prev;  // pg_snapshot text
    std::string snap;
    // relay_batch.snap_time in microseconds since the epoch: the commit
    // time of the batch's messages (0 for a batch recorded before 0.3).
    std::int64_t commit_time = 0;
};

// The relay's durable state in tablepub.relay_* (extension 0.2), reached
// through the functions the upgrade script defines.
class StateStore {
public:
    explicit StateStore(PgConnection& conn) noexcept : conn_(conn) {}

    // Checks that the extension is installed at a version with relay state;
    // throws ConfigError otherwise.
    void check_extension();
    // Makes every commit of this session wait for its WAL flush, whatever
    // synchronous_commit the cluster, database or role sets: the commit that
    // records a batch then flushes the commit record of every transaction the
    // batch publishes (design.md section 2, "Durable before published").
    void make_commits_durable();
    // Flushes the WAL up to now (wal_flush.hpp: a transaction that takes an
    // xid but writes no WAL would commit asynchronously and flush nothing).
    void flush_wal();
    // Tries the relay lock; returns the pid of the holder when it is taken.
    [[nodiscard]] std::optional<int> try_lock();
    // Starts waiting for the relay lock; ready when lock_acquired() says so.
    void send_lock_wait();

    [[nodiscard]] std::vector<StreamState> load_streams();
    // The commit position of the last transaction of the last done batch.
    [[nodiscard]] std::uint64_t load_last_position();
    // The open batch, or a newly recorded one, or nothing to do. force
    // records a batch without first looking for outbox rows (after a NOTIFY).
    [[nodiscard]] std::optional<Batch> next_batch(bool force);
    // Marks `done` finished with its stream updates and the position of its
    // last transaction and, when `next` is set, records the next batch in
    // the same transaction (one commit per batch).
    [[nodiscard]] std::optional<Batch> finish_and_next(const Batch& done, const std::vector<StreamUpdate>& updates,
                                                       std::uint64_t last_position, bool next);
    // Outbox rotation and cleaning; returns a one-line summary.
    std::string maintain();
    // Stores the seq of the SCHEMA message that moved each table off a former
    // topic, after the batch's commit recorded the former names.
    void record_moves(const std::vector<TopicMove>& moves);
    // The former topics the relay stored moves for (within the retention of
    // tablepub.relay_topic_history), each leading to the table's current topic.
    [[nodiscard]] std::vector<TopicMove> load_moves();
    // Schema and name of a table, or ("", "<oid>") when it no longer exists.
    [[nodiscard]] std::pair<std::string, std::string> table_name(std::uint32_t relid);
    // The pos of a transaction's outbox row, given its place among them in
    // pos order (from 0); "" when there is no such row.
    [[nodiscard]] std::string outbox_row_pos(std::uint64_t txid, std::uint64_t row_in_tx);

private:
    std::optional<Batch> next_batch_query(bool force);

    PgConnection& conn_;
};

// The array literal of the relay functions' array parameters (bytea
// elements as PgConnection::bytea_param() gives them).
[[nodiscard]] std::string pg_array_literal(const std::vector<std::string>& elements);

// The SQL expression of a relay_batch row's commit time in microseconds
// since the epoch (0 when NULL), for a row aliased `alias`.
[[nodiscard]] std::string batch_commit_time_sql(const std::string& alias);

}  // namespace tablepub
