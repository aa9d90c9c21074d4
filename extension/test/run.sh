#!/usr/bin/env bash
# Builds and installs the extension, starts a throwaway cluster, runs the
# pg_regress suite against it, and stops the cluster however the script ends.
# Exit status: 0 when every test passed.
set -euo pipefail

ext=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$ext/.." && pwd)

make -C "$ext" -s
make -C "$ext" -s install >/dev/null

cluster=$(mktemp -d /tmp/tablepub-regress.XXXXXX)
trap '"$root/tests/lib/pgtmp" stop "$cluster" >/dev/null 2>&1 || true' EXIT
# wal_level = logical: the logical test subscribes within the cluster
"$root/tests/lib/pgtmp" start "$cluster" --owner $$ -c wal_level=logical >/dev/null
# shellcheck disable=SC1091
. "$cluster/env"

pg_regress=$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress
tests=$(sed -n 's/^REGRESS = //p' "$ext/Makefile")
createdb tablepub_regress

cd "$ext"
rm -rf test/results test/regression.diffs test/regression.out
if "$pg_regress" --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres \
        --dbname=tablepub_regress --inputdir=test --outputdir=test $tests; then
    exit 0
fi
[ -f test/regression.diffs ] && cat test/regression.diffs
exit 1
