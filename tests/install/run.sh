#!/usr/bin/env bash
# The installed C++ library as a user sees it: `cmake --install` the build
# into a temporary prefix, build tests/install/mirror_example.cpp against it
# twice (find_package(tablepub) with CMake, and one g++ line with
# `pkg-config --cflags --libs tablepub`), run both against a throwaway
# cluster and relay (as the least-privilege login) and compare their
# mirrors with the table after inserts, updates and deletes; and build
# tests/install/set_example.cpp (find_package), which mirrors two tables as
# one unit with SetSubscriber while money moves between them, checks their
# total at every transaction boundary and must end equal to the tables.
#   tests/install/run.sh [BUILD]     (the extension must be installed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
. "$root/tests/lib/procs.sh"
. "$root/tests/lib/relay_role.sh"

T=$(mktemp -d /tmp/tablepub-install.XXXX)
chmod 755 "$T"  # pgtmp runs postgres as its own user
relay_pid="" cm_pid="" pc_pid="" set_pid=""
cleanup() {
    local rc=$?
    stop_pid "$cm_pid"; stop_pid "$pc_pid"; stop_pid "$set_pid"; stop_pid "$relay_pid"
    "$root/tests/lib/pgtmp" stop "$T/pg" >/dev/null 2>&1 || true
    if [ $rc -eq 0 ]; then rm -rf "$T"; else
        echo "tests/install: FAILED (kept $T)" >&2
        for f in "$T"/*.log "$T"/*.out; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. Install, and build the example the two ways a user would.
cmake --install "$build" --prefix "$T/prefix" >"$T/install.log"
cmake -S "$here" -B "$T/cmake" -DCMAKE_PREFIX_PATH="$T/prefix" >"$T/cmake.log"
cmake --build "$T/cmake" >>"$T/cmake.log"
libdir=$(dirname "$(find "$T/prefix" -name tablepub.pc)")
# Compiled with the installed include directory alone (pkg-config only for
# linking the static archives): the headers need no protobuf or ZeroMQ
# include path.
g++ -std=c++20 -Wall -Wextra -Werror -I"$T/prefix/include" -c -o "$T/pc_example.o" "$here/mirror_example.cpp"
# shellcheck disable=SC2046
g++ -o "$T/pc_example" "$T/pc_example.o" $(PKG_CONFIG_PATH="$libdir" pkg-config --libs tablepub)
echo "installed library: built with find_package and with pkg-config"

# Every installed header and the example read no ZeroMQ, cppzmq, protobuf
# or generated header (they are in /usr/include here, so a compile alone
# would not notice): the preprocessor's dependency list says what is read.
for h in "$T"/prefix/include/tablepub/*.hpp "$here/mirror_example.cpp" "$here/set_example.cpp"; do
    g++ -std=c++20 -x c++ -I"$T/prefix/include" -M -MF "$T/deps" "$h"
    if tr ' \\' '\n\n' <"$T/deps" | grep -E 'zmq|google/protobuf|\.pb\.h' >"$T/bad_deps"; then
        fail "$(basename "$h") reads $(tr '\n' ' ' <"$T/bad_deps")"
    fi
done
echo "installed library: its headers include no ZeroMQ or protobuf header"

# 2. A cluster, a published table and a relay.
"$root/tests/lib/pgtmp" start "$T/pg" --owner $$ >/dev/null
. "$T/pg/env"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION tablepub;
CREATE TABLE item (id int PRIMARY KEY, name text);
INSERT INTO item SELECT g, 'row ' || g FROM generate_series(1, 200) g;
SELECT tablepub.publish('item');
CREATE TABLE acct_a (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE acct_b (id int PRIMARY KEY, balance bigint NOT NULL);
INSERT INTO acct_a SELECT g, 1000 FROM generate_series(1, 50) g;
INSERT INTO acct_b SELECT g, 1000 FROM generate_series(1, 50) g;
SELECT tablepub.publish('acct_a');
SELECT tablepub.publish('acct_b');
SQL
create_relay_role
. "$root/tests/lib/free_port.sh"
pub=tcp://127.0.0.1:$(free_port) snap=tcp://127.0.0.1:$(free_port)
"$build/bin/tablepub-relay" --db "host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$RELAY_ROLE" \
    --publish "$pub" --snapshot "$snap" --heartbeat-interval 500 --poll-interval 200 \
    2>"$T/relay.log" &
relay_pid=$!

# 3. Both subscribers snapshot, then follow the changes; the row with id
#    1000000, written last, tells them everything before it is applied.
"$T/cmake/mirror_example" "$pub" "$snap" public.item 1000000 >"$T/cmake.out" 2>"$T/cmake.err" &
cm_pid=$!
"$T/pc_example" "$pub" "$snap" public.item 1000000 >"$T/pc.out" 2>"$T/pc.err" &
pc_pid=$!
"$T/cmake/set_example" "$pub" "$snap" 100000 1000000 >"$T/set.out" 2>"$T/set.err" &
set_pid=$!
t0=$(date +%s)
until [ "$(head -1 "$T/cmake.out")" = live ] && [ "$(head -1 "$T/pc.out")" = live ] &&
    [ "$(head -1 "$T/set.out")" = live ]; do
    kill -0 "$cm_pid" && kill -0 "$pc_pid" && kill -0 "$set_pid" || fail "a subscriber exited before it was live"
    [ $(( $(date +%s) - t0 )) -lt 60 ] || fail "the subscribers were not live within 60 s"
    sleep 0.1
done
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
UPDATE item SET name = 'updated ' || id WHERE id % 3 = 0;
DELETE FROM item WHERE id % 7 = 0;
INSERT INTO item VALUES (201, NULL), (202, E'tab\there, ünïcödé');
SQL
psql -qX -v ON_ERROR_STOP=1 -c "INSERT INTO item VALUES (1000000, 'sentinel')" >/dev/null
# 20 transfers, each one transaction across both tables (the total stays
# 100000), then the set's sentinel in a transaction of its own.
for i in $(seq 1 20); do
    echo "BEGIN; UPDATE acct_a SET balance = balance - $i WHERE id = $i;"
    echo "UPDATE acct_b SET balance = balance + $i WHERE id = $(( 51 - i )); COMMIT;"
done | psql -qX -v ON_ERROR_STOP=1 >/dev/null
psql -qX -v ON_ERROR_STOP=1 -c "INSERT INTO acct_a VALUES (1000000, 0)" >/dev/null
wait "$cm_pid" || fail "the find_package example failed"; cm_pid=""
wait "$pc_pid" || fail "the pkg-config example failed"; pc_pid=""
wait "$set_pid" || fail "the SetSubscriber example failed"; set_pid=""

# 4. Each mirror equals the table.
psql -qXAt -P null='\N' -c "SELECT id, name FROM item ORDER BY id" >"$T/table.out"
for m in cmake pc; do
    tail -n +2 "$T/$m.out" | diff -u "$T/table.out" - >"$T/$m.diff" || fail "mirror ($m) differs from the table: $(cat "$T/$m.diff")"
done
echo "installed library: both mirrors equal the table ($(wc -l <"$T/table.out") rows)"

# 5. The set's view equals both tables, and every transfer came as one
#    transaction across the two tables with the total intact.
psql -qXAt -c "SELECT 'a', id, balance FROM acct_a UNION ALL SELECT 'b', id, balance FROM acct_b ORDER BY 1, 2" \
    >"$T/set_tables.out"
sed -n '2,$p' "$T/set.out" | grep -v '^two_table_transactions=' | diff -u "$T/set_tables.out" - >"$T/set.diff" ||
    fail "the set's view differs from the tables: $(cat "$T/set.diff")"
summary=$(tail -1 "$T/set.out")
case "$summary" in
    "two_table_transactions=20 violations=0 "*) ;;
    *) fail "SetSubscriber example: $summary (expected 20 two-table transactions, 0 violations)" ;;
esac
echo "installed library: the SetSubscriber view equals both tables ($summary)"
