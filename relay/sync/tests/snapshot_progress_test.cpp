#include <gtest/gtest.h>

#include "snapshot_progress.hpp"

namespace tablepub::sync {
namespace {

using namespace std::chrono_literals;

TEST(SnapshotProgress, RateAndEta) {
    EXPECT_EQ(SnapshotProgress::describe("\"public\".\"t\"", 250000, 5s, 1e6),
              "snapshot of \"public\".\"t\": 250000 rows of about 1000000 (25%), 50000 rows/s, about 15 s left");
}

TEST(SnapshotProgress, PastTheEstimate) {
    EXPECT_EQ(SnapshotProgress::describe("t", 1500, 1s, 1000),
              "snapshot of t: 1500 rows of about 1000 (100%), 1500 rows/s, past the estimate (pg_class.reltuples)");
}

TEST(SnapshotProgress, NeverAnalyzed) {
    EXPECT_EQ(SnapshotProgress::describe("t", 4096, 2s, -1),
              "snapshot of t: 4096 rows, 2048 rows/s (no estimate: the table was never analyzed)");
}

}  // namespace
}  // namespace tablepub::sync
