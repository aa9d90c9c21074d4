#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/wire.hpp"
#include "relay/sequencer.hpp"
#include "relay/state_store.hpp"

namespace tablepub {

class PgConnection;

// How much of the outbox the relay holds at a time.
struct FetchLimits {
    int rows = 10000;                             // rows per FETCH
    std::int64_t bytes = 64 << 20;                // change bytes per FETCH or per read of large changes
    std::int64_t max_change_bytes = 256LL << 20;  // larger changes are not read, but replaced
};

// One outbox row as the reader hands it on. Exactly one of the three forms:
// `bytes` (valid during the call), `large` (a change read on its own, with
// MESSAGE_HEADROOM in front; may be moved from), or `oversized` (a change
// over max_change_bytes, never read: only its size is known).
struct OutboxRow {
    std::uint32_t relid = 0;
    std::uint64_t txid = 0;
    std::uint64_t size = 0;  // octet length of the change
    std::string_view bytes;
    HeadroomBuffer* large = nullptr;
    bool oversized = false;
};

// How the batch query orders a batch (the same rows in the same order
// either way). sort_whole: one scan, each transaction's largest pos by a
// window function, one sort of the batch; the cheapest for a batch of small
// transactions. per_transaction: an aggregate finds the transactions, whose
// rows are then read and sorted one transaction at a time; rows of a
// backlog go out while the rest is still sorted, and nothing is buffered
// for the window (docs/benchmarks.md, "Backlog drain").
enum class BatchPlan { sort_whole, per_transaction };

// Reads the outbox rows of one batch in publishing order, (largest pos of
// the transaction, txid, pos), through a server-side cursor. Memory is
// bounded in rows and in bytes whatever the batch: a FETCH returns at most
// `rows` rows and carries inline only changes of up to bytes / rows bytes
// (at least 1 kB), so at most about `bytes`; larger changes come back as
// their length and row address, and are read afterwards, several per query
// up to `bytes`, or one at a time in slices when larger than a slice.
// Changes over max_change_bytes are never read.
class BatchReader {
public:
    using RowFn = std::function<void(OutboxRow& row)>;
    // Called with every table oid of a chunk before the next chunk is
    // requested, so it may query the connection (name lookups).
    using PrepareFn = std::function<void(std::uint32_t relid)>;
    // Called between chunks and after each read of large changes
    // (heartbeats during long batches).
    using IdleFn = std::function<void()>;

    BatchReader(PgConnection& conn, FetchLimits limits) noexcept : conn_(conn), limits_(limits) {}

    // Returns the number of rows read.
    std::uint64_t read(const Batch& batch, const PrepareFn& prepare, const RowFn& row, const IdleFn& idle,
                       BatchPlan plan = BatchPlan::sort_whole);

    // Changes larger than this are not sent inline by the cursor.
    [[nodiscard]] std::int64_t inline_limit() const noexcept;
    // Changes larger than this are read in slices of this size.
    [[nodiscard]] std::int64_t slice_bytes() const noexcept;

private:
    struct Pending;
    void read_large(std::vector<Pending>& rows, const RowFn& row);

    PgConnection& conn_;
    FetchLimits limits_;
};

// What sequence_row made of one outbox row.
struct RowOutcome {
    std::uint64_t messages = 0;  // messages sequenced: a pack's changes, else 1
    // Why the row was published as a RESYNC because it is a malformed pack
    // ("" otherwise), for the caller's warning.
    std::string malformed;
};

// Hands one row to the sequencer as the relay publishes it: each change of
// a packed row in order, as a plain row's change would be (a change of a
// pack is under 1 kB, so never over max_change_bytes); a change over
// max_change_bytes (never read) as the RESYNC that replaces it; a large one
// without a copy; a malformed pack (or a large row that starts like one:
// packs are at most MAX_PACK_BYTES) as one RESYNC in place of the whole
// row, whose changes cannot be told apart. The relay, the RabbitMQ
// forwarder and the replay all use it, so that their messages are the same
// bytes with the same seqs.
RowOutcome sequence_row(Sequencer& sequencer, OutboxRow& row, std::uint64_t max_change_bytes);

// The query selecting a batch's rows in publishing order (relid, txid,
// change); the replay of the sync server reads the same rows. prev and snap
// are SQL expressions of the two snapshots: parameters ("$1") or, where a
// statement cannot take parameters, literals quoted by PQescapeLiteral.
[[nodiscard]] std::string batch_query(const std::string& prev, const std::string& snap);

// The same with a fourth column tx_rank: the 1-based place of the row's
// transaction in the batch (its commit position is the batch's first
// position + tx_rank - 1), computed over every table of the batch.
[[nodiscard]] std::string batch_query_ranked(const std::string& prev, const std::string& snap);

// The drain's form of it: relid, txid, the change when it is at most
// inline_limit bytes (else NULL), the address of a larger one as text
// "<size> <gen> <ctid>" (else ''), in the same order.
[[nodiscard]] std::string batch_read_query(const std::string& prev, const std::string& snap, std::int64_t inline_limit,
                                           BatchPlan plan);

}  // namespace tablepub
