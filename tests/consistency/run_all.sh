#!/usr/bin/env bash
# The consistency test with three seeds (tests/consistency/run.sh).
#   tests/consistency/run_all.sh [BUILD]    seeds: $CONSISTENCY_SEEDS or "1 2 3"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for seed in ${CONSISTENCY_SEEDS:-1 2 3}; do
    echo "== consistency seed $seed"
    "$here/run.sh" "$seed" "$@"
done
echo "consistency: all seeds passed"
