#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "tablepub/state_store.hpp"

namespace tablepub {

class PgConnection;

// Reads the outbox rows of one batch in publishing order, (largest pos of
// the transaction, txid, pos), through a server-side cursor in chunks of
// fetch_rows, with the next chunk requested while the current one is
// handled: memory stays at two chunks whatever the batch size.
class BatchReader {
public:
    using RowFn = std::function<void(std::uint32_t relid, std::uint64_t txid, std::string_view change)>;
    // Called with every table oid of a chunk before the next chunk is
    // requested, so it may query the connection (name lookups).
    using PrepareFn = std::function<void(std::uint32_t relid)>;
    // Called between chunks (heartbeats during long batches).
    using IdleFn = std::function<void()>;

    BatchReader(PgConnection& conn, int fetch_rows) noexcept : conn_(conn), fetch_rows_(fetch_rows) {}

    // Returns the number of rows read.
    std::uint64_t read(const Batch& batch, const PrepareFn& prepare, const RowFn& row, const IdleFn& idle);

private:
    PgConnection& conn_;
    int fetch_rows_;
};

// The query selecting a batch's rows in publishing order.
[[nodiscard]] std::string batch_query(const std::string& prev_literal, const std::string& snap_literal);

}  // namespace tablepub
