#!/usr/bin/env bash
# Runs every benchmark and prints one markdown report (paste into
# docs/benchmarks.md). Usage: bench/run_all.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
# Capture cost beside wal2json and PgQ: bench/peers.sh (make bench runs it first).
echo "## Relay throughput and memory (issue 3)"; echo
"$here/throughput.sh" "$build"; echo
echo "## Latency (issue 3)"; echo
"$here/latency.sh" "$build"; echo
echo "## Snapshot and join (issue 4)"; echo
"$here/snapshot.sh" "$build"
