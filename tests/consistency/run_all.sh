#!/usr/bin/env bash
# The consistency test with three seeds (tests/consistency/run.sh), and the
# transaction consistency test across tables with three seeds (tx_run.sh).
#   tests/consistency/run_all.sh [BUILD]    seeds: $CONSISTENCY_SEEDS or "1 2 3"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for seed in ${CONSISTENCY_SEEDS:-1 2 3}; do
    echo "== consistency seed $seed"
    "$here/run.sh" "$seed" "$@"
done
for seed in ${CONSISTENCY_SEEDS:-1 2 3}; do
    echo "== tx consistency seed $seed"
    "$here/tx_run.sh" "$seed" "$@"
done
echo "consistency: all seeds passed"
